"""Private files by name, on whichever storage `STORAGES["private"]` configures.

The filesystem is the embedded default; S3-compatible object storage is configured in
production (several worker hosts share nothing but PostgreSQL, Redis and the object store).
Code that needs a real local file (a reader, `np.load`, an archive extractor) asks for one with
`local_path`: on the filesystem storage it is the stored file itself; on object storage it is a
copy in this host's cache (`PRIVATE_CACHE_DIR`). Writes go through `write_atomic`, so a reader
never sees half a file, and folders are removed with `delete_prefix`.

The cache relies on a rule every writer keeps: the content under a name never changes (names
are random), except chunk artifacts, which are rewritten whole with identical content. So a
cached copy never goes stale, and it is only ever filled by downloading to a temporary name and
renaming. A copy in use holds a shared `flock`; the size bound (`PRIVATE_CACHE_MAX_MB`) evicts
the least recently used copies that no process holds.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages

from config import env

log = logging.getLogger(__name__)

READ_BYTES = 1024 * 1024
SPOOL_MAX_MEMORY_BYTES = 8 * 1024 * 1024
TRIM_EVERY_SECONDS = 30.0  # a process looks at the cache's size at most this often
PARTIAL_MAX_AGE_SECONDS = 3600.0  # a download's temporary file older than this was abandoned
_last_trim = [0.0]

# The object store cannot be reached or did not answer in time: nothing is wrong with the request
# or the data, and the same call succeeds once the service is back (see `storage_unavailable`).
STORAGE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
    BotoConnectionError,
)
_UNAVAILABLE_CODES = frozenset({"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "503", "500"})
STORAGE_UNAVAILABLE_MESSAGE = "The file store cannot be reached right now; nothing you saved was lost."
STORAGE_RETRY_AFTER_SECONDS = 60


def storage_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or an exception it was raised from) says the object store is down or
    overloaded: a connection that failed or timed out, or an answer with HTTP status 500 or more
    (SlowDown, ServiceUnavailable, RequestTimeout). Such a failure is transient: retry later,
    keep every file. A missing object or a refused permission is not."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (*STORAGE_UNAVAILABLE, StorageUnavailable)):
            return True
        if isinstance(current, ClientError):
            response: Any = current.response or {}
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            code = str(response.get("Error", {}).get("Code", ""))
            if (isinstance(status, int) and status >= 500) or code in _UNAVAILABLE_CODES:
                return True
        # boto3's transfers wrap the cause: S3UploadFailedError is raised while handling it,
        # RetriesExceededError (a download cut off again and again) keeps it as last_exception.
        wrapped = getattr(current, "last_exception", None)
        current = wrapped if isinstance(wrapped, BaseException) else (current.__cause__ or current.__context__)
    return False


class StorageUnavailable(ConnectionError):
    """The object store is down or overloaded (`storage_unavailable`), raised `from` the storage's
    own error. A ConnectionError, so the Celery tasks' automatic retries (audits.tasks.TRANSIENT)
    take it as transient; the pages and the API answer 503 with Retry-After."""

    def __init__(self, message: str = STORAGE_UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)


# --------------------------------------------------------------------------- settings


def private_storage_settings(*, root: Path) -> dict[str, Any]:
    """`STORAGES["private"]` from the environment (config.settings.base).

    PRIVATE_STORAGE_BACKEND=filesystem (the default) keeps the files under `root`;
    PRIVATE_STORAGE_BACKEND=s3 puts them in the bucket AWS_STORAGE_BUCKET_NAME of the
    S3-compatible service at AWS_S3_ENDPOINT_URL (AWS itself when unset), with
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or boto3's own credential chain when unset),
    AWS_S3_REGION_NAME, AWS_S3_ADDRESSING_STYLE (path, the default, suits MinIO; virtual suits
    AWS) and AWS_LOCATION (a key prefix inside the bucket). Objects get no ACL (the bucket's
    policy, private), and no signed URLs are made: every private file is served through a view
    that checks permissions first.
    """
    backend = env.env_choice("PRIVATE_STORAGE_BACKEND", "filesystem", ("filesystem", "s3"))
    if backend == "filesystem":
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        }
    bucket = env.env_str("AWS_STORAGE_BUCKET_NAME")
    if not bucket:
        raise ImproperlyConfigured("PRIVATE_STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME, the bucket's name")
    endpoint = env.env_str("AWS_S3_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(
                f"AWS_S3_ENDPOINT_URL={endpoint!r} is not a service address like https://s3.example.org:9000"
            )
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "endpoint_url": endpoint or None,
        "region_name": env.env_str("AWS_S3_REGION_NAME") or None,
        "addressing_style": env.env_choice("AWS_S3_ADDRESSING_STYLE", "path", ("path", "virtual", "auto")),
        "signature_version": "s3v4",
        "location": env.env_str("AWS_LOCATION").strip("/"),
        "default_acl": None,
        "querystring_auth": False,
        "file_overwrite": True,  # names are random; write_atomic replaces an artifact whole
        # An object opened for reading (an evidence download, an upload's part) is spooled to a
        # temporary file past this size; django-storages' default of 0 keeps it all in memory.
        "max_memory_size": SPOOL_MAX_MEMORY_BYTES,
    }
    access_key, secret_key = env.env_str("AWS_ACCESS_KEY_ID"), env.env_str("AWS_SECRET_ACCESS_KEY")
    if bool(access_key) != bool(secret_key):
        raise ImproperlyConfigured("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set together, or neither")
    if access_key:
        options.update(access_key=access_key, secret_key=secret_key)
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


# --------------------------------------------------------------------------- the seam


def private_storage() -> Storage:
    return storages["private"]


def is_local(storage: Storage | None = None) -> bool:
    """True when the private storage is a folder of this host (files have a path)."""
    return isinstance(storage or private_storage(), FileSystemStorage)


@contextmanager
def local_path(name: str | None) -> Iterator[Path]:
    """A local file holding the stored object `name`, for the duration of the block.

    Read it, never change it. FileNotFoundError when no object has that name (or, for a
    FileField's empty name, when there is no stored file at all)."""
    if not name:
        raise FileNotFoundError("no stored file")
    storage = private_storage()
    if is_local(storage):
        yield Path(storage.path(name))
        return
    path = _cache_path(name)
    descriptor = _hold(storage, name, path)
    try:
        yield path
    finally:
        os.close(descriptor)  # releases the shared lock: the copy may be evicted from now on


def download(name: str, target: Path) -> Path:
    """Copy the stored object `name` to the local file `target` (a copy of one's own, to change
    or move; `local_path` is the cheaper choice for reading). FileNotFoundError when it is missing."""
    storage = private_storage()
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_local(storage):
        shutil.copyfile(storage.path(name), target)
        return target
    with storage.open(name, "rb") as remote, open(target, "wb") as out:
        # S3File.obj is the boto3 object: a managed (parallel, ranged) download, not read() through a spool.
        remote.obj.download_fileobj(out, Config=getattr(storage, "transfer_config", None))  # type: ignore[attr-defined]
    return target


def write_atomic(name: str, content: bytes | IO[bytes]) -> str:
    """Store `content` under exactly `name` (replacing what was there); readers see all or nothing."""
    storage = private_storage()
    if is_local(storage):
        path = Path(storage.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        with open(temporary, "wb") as handle:
            if isinstance(content, bytes):
                handle.write(content)
            else:
                shutil.copyfileobj(content, handle, READ_BYTES)
        os.replace(temporary, path)
        return name
    # One PUT (or one completed multipart upload) replaces an object whole: readers see the old
    # object or the new one. The storage keeps the name (file_overwrite), so no delete first.
    file = ContentFile(content) if isinstance(content, bytes) else File(content)
    saved = storage.save(name, file)
    if saved != name:
        raise OSError(f"the private storage stored “{name}” as “{saved}”; it must overwrite (file_overwrite)")
    return saved


def copy(source: str, target: str) -> str:
    """Store a copy of `source` under `target`; on object storage the service copies it (no bytes
    pass through this host)."""
    storage = private_storage()
    if is_local(storage):
        path = Path(storage.path(target))
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(storage.path(source), path)
        return target
    bucket = storage.bucket  # type: ignore[attr-defined]
    key = storage._normalize_name  # type: ignore[attr-defined]  # the key under AWS_LOCATION
    bucket.Object(key(target)).copy(
        {"Bucket": bucket.name, "Key": key(source)}, Config=getattr(storage, "transfer_config", None)
    )
    return target


def stored_objects(prefix: str) -> Iterator[tuple[str, float]]:
    """(name, time of its last change as a POSIX timestamp) of every stored object under the folder `prefix`.

    On the filesystem the later of the content's and the inode's change: a file moved into place
    by a rename (an API upload staged into a set) keeps its content's old time, not its inode's."""
    storage = private_storage()
    folder = prefix.strip("/")
    if is_local(storage):
        base, root = Path(storage.location), Path(storage.path(folder))  # type: ignore[attr-defined]
        for path in root.rglob("*") if root.is_dir() else ():
            with suppress(FileNotFoundError):  # deleted meanwhile
                if path.is_file():
                    status = path.stat()
                    yield path.relative_to(base).as_posix(), max(status.st_mtime, status.st_ctime)
        return
    keys = storage._normalize_name(folder + "/")  # type: ignore[attr-defined]  # under AWS_LOCATION, if any
    for obj in storage.bucket.objects.filter(Prefix=keys):  # type: ignore[attr-defined]
        yield f"{folder}/{obj.key[len(keys) :]}", obj.last_modified.timestamp()


def sweep(prefix: str, needed: Callable[[list[str]], set[str]], *, older_than: float) -> int:
    """Delete the objects under the folder `prefix` unchanged for `older_than` seconds that `needed`
    (given a batch of names, the ones a row still refers to) does not keep; how many were deleted.

    For files whose delete failed when their row went (a store that was down, a bulk delete of
    rows): no row names them, so nothing else would ever remove them. The age spares what is being
    written now, before the row that will name it commits."""
    storage = private_storage()
    local = is_local(storage)
    cutoff = _now() - older_than
    deleted = 0
    emptied: set[Path] = set()

    def settle(batch: list[str]) -> None:
        nonlocal deleted
        keep = needed(batch)
        for name in batch:
            if name not in keep:
                storage.delete(name)
                deleted += 1
                if local:
                    emptied.add(Path(storage.path(name)).parent)
                else:  # this host's copy goes too (`local_path`'s cache)
                    with suppress(OSError, ValueError):
                        _cache_path(name).unlink()

    batch: list[str] = []
    for name, changed in stored_objects(prefix):  # in batches: a bucket may hold millions of names
        if changed < cutoff:
            batch.append(name)
        if len(batch) == 1000:
            settle(batch)
            batch = []
    if batch:
        settle(batch)
    root = Path(storage.path(prefix.strip("/"))) if local else None
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):  # the folders left empty,
        while root is not None and folder != root and root in folder.parents:  # never the app's own
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
            folder = folder.parent
    return deleted


_now = time.time  # the sweep's clock (a test moves it on)


# Folder -> which of a batch of its names a row still needs; each app registers the folders it
# writes (AppConfig.ready), so that one sweep covers them without config importing the apps.
SWEEPS: dict[str, Callable[[list[str]], set[str]]] = {}


def register_sweep(prefix: str, needed: Callable[[list[str]], set[str]]) -> None:
    SWEEPS[prefix.strip("/")] = needed


def sweep_all(*, older_than: float) -> dict[str, int]:
    """`sweep` every registered folder; the number of objects deleted in each (logged when any)."""
    counts = {}
    for prefix, needed in sorted(SWEEPS.items()):
        counts[prefix] = sweep(prefix, needed, older_than=older_than)
        if counts[prefix]:
            log.warning("private storage: %s objects under %s/ no row needed were deleted", counts[prefix], prefix)
    return counts


def delete_prefix(prefix: str) -> None:
    """Remove every stored object under the folder `prefix` (no error when there is none)."""
    storage = private_storage()
    if is_local(storage):
        shutil.rmtree(storage.path(prefix), ignore_errors=True)
        return
    folder = prefix.strip("/") + "/"
    storage.bucket.objects.filter(Prefix=storage._normalize_name(folder)).delete()  # type: ignore[attr-defined]
    shutil.rmtree(_cache_dir() / folder, ignore_errors=True)


def bucket_ensure() -> bool:
    """Create the private bucket when object storage is configured and it does not exist yet (the
    compose stack's migrate step runs this; on AWS the bucket is usually made beforehand, with its
    public access blocked). True when it was created."""
    storage = private_storage()
    if is_local(storage):
        return False
    bucket = storage.bucket  # type: ignore[attr-defined]
    try:
        bucket.meta.client.head_bucket(Bucket=bucket.name)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    region = bucket.meta.client.meta.region_name
    if region and region != "us-east-1":  # AWS wants the region said again outside us-east-1
        bucket.create(CreateBucketConfiguration={"LocationConstraint": region})
    else:
        bucket.create()
    bucket.wait_until_exists()
    log.info("private storage: bucket %s created", bucket.name)
    return True


# --------------------------------------------------------------------------- this host's cache


def _cache_dir() -> Path:
    return Path(settings.PRIVATE_CACHE_DIR)


def _cache_path(name: str) -> Path:
    parts = [part for part in name.split("/") if part not in ("", ".", "..")]
    if not parts or len(parts) != len(name.strip("/").split("/")):
        raise ValueError(f"“{name}” is not a private file's name")
    return _cache_dir().joinpath(*parts)


def _hold(storage: Storage, name: str, path: Path) -> int:
    """An open descriptor of the cached copy of `name` under a shared lock, downloading it first
    when it is missing. The check after the lock catches a copy evicted between open and lock."""
    for _attempt in range(3):
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            _fill(storage, name, path)
            continue
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        try:
            held = os.fstat(descriptor).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            held = False
        if held:
            with suppress(OSError):
                os.utime(path)  # the least recently used go first
            return descriptor
        os.close(descriptor)
    raise OSError(f"the cached copy of “{name}” kept disappearing (PRIVATE_CACHE_MAX_MB is too small?)")


def _fill(storage: Storage, name: str, path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        download(name, temporary)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)  # two hosts' processes filling one name put identical bytes there
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
    if time.monotonic() - _last_trim[0] > TRIM_EVERY_SECONDS:
        _last_trim[0] = time.monotonic()
        cache_trim()


def cache_trim(max_bytes: int | None = None) -> int:
    """Evict the least recently used cached copies that no process holds until the cache is within
    `max_bytes` (PRIVATE_CACHE_MAX_MB); the number of bytes freed."""
    limit = settings.PRIVATE_CACHE_MAX_MB * 1024 * 1024 if max_bytes is None else max_bytes
    entries: list[tuple[float, int, Path]] = []
    now = time.time()
    for folder, _dirs, files in os.walk(_cache_dir()):
        for file_name in files:
            path = Path(folder, file_name)
            with suppress(FileNotFoundError):
                info = path.stat()
                if file_name.endswith(".part"):
                    if now - info.st_mtime > PARTIAL_MAX_AGE_SECONDS:
                        path.unlink()  # an interrupted download
                    continue
                entries.append((info.st_mtime, info.st_size, path))
    total = sum(size for _mtime, size, _path in entries)
    freed = 0
    for _mtime, size, path in sorted(entries):
        if total - freed <= limit:
            break
        if _evict(path):
            freed += size
    if freed:
        log.info("private file cache: %s bytes evicted, %s bytes kept", freed, total - freed)
    return freed


def _evict(path: Path) -> bool:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return False  # in use by a process of this host
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(descriptor)
