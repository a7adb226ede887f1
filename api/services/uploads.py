"""Resumable uploads (api.models.ChunkedUpload) and image sets made from them.

A chunk's body is first read from the network into a temporary file, outside any
transaction, so a slow client holds neither a database connection in a transaction nor the
row's lock. Then, under the row's lock, held only for the append, the chunk is written at the
offset the row says was received, so two requests for the same upload never interleave their
bytes: a retry of a chunk that already arrived finds its bytes received and changes nothing,
a chunk that would leave a gap or overlap is refused with the offset to resume from. The
whole file's SHA-256 is computed after that commit, and the upload marked complete by
compare-and-set. Before a body is read the same checks run without the lock, so a repeat or a
misplaced chunk is answered without reading it. One user's open and unused uploads may declare
at most API_UPLOAD_QUOTA_BYTES in all. The bytes live in private storage
under `chunked/<id>` and are moved, not copied, into the image set
(audits.services.uploads.image_set_upload, the page's own service), which marks the uploads
used in the same transaction: an upload makes one set.

On object storage (config.storage) an object cannot be appended to, so each chunk is an object
of its own, `chunked/<id>.parts/<offset>`, written under the same lock at the offset the row
says was received; once every byte is in, the parts are read in order from byte 0 (each part
says where the next one starts, so a part left by a failed request is never on the path) into
one object `chunked/<id>`, hashing them on the way, and removed. Any web host can take any
chunk, since every one reaches the same bucket; a spool on a shared filesystem would bring
back the shared disk that object storage is there to remove. Image sets get a copy made by the
object store itself (no bytes pass through the web host), and the upload's own object goes
once that commits.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from api.enums import UploadStatus
from api.models import ChunkedUpload
from audits.enums import SetRole
from audits.models import ImageSet
from audits.services.uploads import UploadRejected, image_set_upload
from config.storage import delete_prefix, is_local, private_storage, write_atomic
from reviews.models import Project, User
from reviews.services.projects import ProjectNotEditable

log = logging.getLogger(__name__)

READ_BYTES = 1024 * 1024
SIDE_FILES = ("metadata", "manifest", "value_map")  # image_set_upload's side files


class ChunkRefused(Exception):
    """A chunk that does not continue the upload where it stands; `offset` is where to resume."""

    def __init__(self, message: str, *, upload: ChunkedUpload, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.upload = upload
        self.status = status


class UploadQuotaExceeded(Exception):
    """Opening this upload would take the user's open and unused uploads past their quota."""


def _path(upload: ChunkedUpload) -> Path:
    """The upload's one file, appended to in place (filesystem storage only)."""
    return Path(private_storage().path(upload.stored_name))


def _parts(upload: ChunkedUpload) -> str:
    """The folder of the upload's chunks on object storage, one object per chunk."""
    return f"{upload.stored_name}.parts"


def _part(upload: ChunkedUpload, offset: int) -> str:
    return f"{_parts(upload)}/{offset:015d}"


def upload_start(*, actor: User, project: Project, filename: str, size: int, sha256: str = "") -> ChunkedUpload:
    """Open an upload of one file of `size` bytes; refused (UploadRejected) past the image-set limit."""
    if not project.is_editable:
        raise ProjectNotEditable(project)
    if size < 1:
        raise UploadRejected("An upload needs at least one byte.", field="size")
    if size > settings.IMAGE_UPLOAD_MAX_BYTES:
        raise UploadRejected(
            f"{filesizeformat(size)} is more than the {filesizeformat(settings.IMAGE_UPLOAD_MAX_BYTES)} "
            "an image set may hold.",
            field="size",
        )
    upload_id = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        _check_quota(actor=actor, size=size)
        upload = ChunkedUpload.objects.create(
            id=upload_id,
            owner=actor,
            project=project,
            filename=os.path.basename(filename.replace("\\", "/"))[:255] or "upload",
            size=size,
            sha256=sha256.lower(),
            stored_name=f"chunked/{upload_id.hex}",
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(hours=settings.API_UPLOAD_EXPIRY_HOURS),
        )
    if is_local():  # on object storage the parts come with the chunks
        path = _path(upload)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    return upload


def _check_quota(*, actor: User, size: int) -> None:
    """Refuse an upload that would take the user's held bytes past API_UPLOAD_QUOTA_BYTES.

    Counted on the declared sizes of the open and complete (not yet used) uploads, whose bytes
    stay on disk until they make a set, are cancelled or expire. The user's row is locked
    first, so two concurrent opens are counted one after the other and cannot both pass."""
    User.objects.select_for_update().filter(pk=actor.pk).values_list("pk", flat=True).get()
    held = (
        ChunkedUpload.objects.filter(owner=actor, status__in=[UploadStatus.OPEN, UploadStatus.COMPLETE]).aggregate(
            total=Sum("size")
        )["total"]
        or 0
    )
    if held + size > settings.API_UPLOAD_QUOTA_BYTES:
        raise UploadQuotaExceeded(
            f"Your open and unused uploads already hold {filesizeformat(held)}; with this one they would pass the "
            f"{filesizeformat(settings.API_UPLOAD_QUOTA_BYTES)} one user may hold. Finish them (make an image set "
            "from the complete ones) or cancel those you no longer need to free the space."
        )


@dataclass(frozen=True)
class ChunkRange:
    """`Content-Range: bytes <start>-<end>/<size>` (end inclusive)."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def upload_append(*, upload_id: uuid.UUID, chunk: ChunkRange, read: Callable[[int], bytes]) -> ChunkedUpload:
    """Append one chunk, read through `read(n)` only when it continues the upload.

    A chunk that lies wholly within what was received is a retry: nothing is read or
    written. Raises ChunkRefused for a gap, an overlap, a short body, a closed upload or a
    digest that does not match once every byte is in (which empties the upload to start again).
    """
    upload = ChunkedUpload.objects.get(pk=upload_id)
    if _is_repeat(upload, chunk):  # without the lock: nothing is read for a repeat or a misplaced chunk
        return _finish(upload) if upload.received == upload.size else upload
    with tempfile.SpooledTemporaryFile(
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=settings.FILE_UPLOAD_TEMP_DIR
    ) as spool:
        spooled = _copy(read, spool.write, chunk.length)  # the slow part: no transaction is open
        if spooled != chunk.length:
            raise ChunkRefused(
                f"The body ended after {spooled} of the {chunk.length} bytes Content-Range announced; "
                f"send the bytes from {upload.received} on again.",
                upload=upload,
                status=400,
            )
        spool.seek(0)
        with transaction.atomic():
            upload = ChunkedUpload.objects.select_for_update().get(pk=upload_id)
            if _is_repeat(upload, chunk):  # another request brought these bytes meanwhile
                return upload
            _write_chunk(upload, chunk.length, spool)
            upload.received += chunk.length
            upload.updated_at = timezone.now()
            upload.save(update_fields=["received", "updated_at"])
    return _finish(upload) if upload.received == upload.size else upload


def _is_repeat(upload: ChunkedUpload, chunk: ChunkRange) -> bool:
    """True for a chunk already received; ChunkRefused for one that does not continue the upload."""
    if chunk.size != upload.size:
        raise ChunkRefused(
            f"Content-Range says the file has {chunk.size} bytes; this upload was opened for {upload.size}.",
            upload=upload,
            status=400,
        )
    if upload.status in (UploadStatus.OPEN, UploadStatus.COMPLETE) and chunk.end < upload.received:
        return True
    if upload.status != UploadStatus.OPEN:
        raise ChunkRefused(f"This upload is {upload.get_status_display().lower()}.", upload=upload)
    if chunk.start != upload.received:
        word = "leave a gap" if chunk.start > upload.received else "overlap bytes already received"
        raise ChunkRefused(
            f"A chunk from byte {chunk.start} would {word}: send the bytes from {upload.received} on.",
            upload=upload,
        )
    return False


def _copy(read: Callable[[int], bytes], write: Callable[[bytes], object], length: int) -> int:
    """Copy at most `length` bytes from `read` to `write`; the count copied (less when the body ends)."""
    copied = 0
    while copied < length:
        data = read(min(READ_BYTES, length - copied))
        if not data:
            break
        write(data)
        copied += len(data)
    return copied


def _write_chunk(upload: ChunkedUpload, length: int, spool: IO[bytes]) -> None:
    """The spooled chunk at the offset received so far: appended to the file, or a part of its own."""
    if is_local():
        _write_at(_path(upload), upload.received, length, spool.read)
    else:
        write_atomic(_part(upload, upload.received), spool)  # a failed request's part is replaced by the next


def _write_at(path: Path, offset: int, length: int, read: Callable[[int], bytes]) -> None:
    """Write `length` spooled bytes at `offset`; on a failure (a full disk) the file is cut back."""
    with open(path, "r+b") as out:
        out.seek(offset)
        try:
            if _copy(read, out.write, length) != length:
                raise OSError(f"the spooled chunk is shorter than its {length} bytes")
        except BaseException:
            out.truncate(offset)
            raise


def _finish(upload: ChunkedUpload) -> ChunkedUpload:
    """Once every byte is in: compare the digest (outside any lock), then open -> complete.

    A digest that is not the declared one empties the upload (under its lock, only if it still
    holds those bytes) and raises ChunkRefused (422) after that commit."""
    if upload.status != UploadStatus.OPEN:
        return upload
    if is_local():
        found = _digest(upload) if upload.sha256 else ""
    else:
        try:
            found = _compose(upload)
        except FileNotFoundError:  # a part is gone: another request completed or cancelled it meanwhile?
            latest = ChunkedUpload.objects.get(pk=upload.pk)
            if latest.status != UploadStatus.OPEN or latest.received != latest.size:
                return latest
            locked, _discarded = _discard_received(upload)
            raise ChunkRefused(
                "A part of this upload is missing from storage; send the file again from byte 0.",
                upload=locked,
                status=422,
            ) from None
    if upload.sha256 and found != upload.sha256:
        locked, discarded = _discard_received(upload)
        if not discarded:
            return locked  # cancelled, or emptied by a concurrent retry, meanwhile
        raise ChunkRefused(
            f"sha256: the received file's SHA-256 is {found}, not the declared {upload.sha256}; "
            "its bytes were discarded: send the file again from byte 0.",
            upload=locked,
            status=422,
        )
    completed = ChunkedUpload.objects.filter(pk=upload.pk, status=UploadStatus.OPEN, received=upload.size).update(
        status=UploadStatus.COMPLETE, updated_at=timezone.now()
    )
    if completed and not is_local():
        transaction.on_commit(lambda: _delete_after_commit([], parts=[_parts(upload)]))  # composed into stored_name
    return ChunkedUpload.objects.get(pk=upload.pk)  # complete, or as a cancel meanwhile left it


def _discard_received(upload: ChunkedUpload) -> tuple[ChunkedUpload, bool]:
    """Empty an upload whose bytes cannot stand (under its lock, only if it still holds them all);
    the row, and whether this call emptied it."""
    with transaction.atomic():
        locked = ChunkedUpload.objects.select_for_update().get(pk=upload.pk)
        if locked.status != UploadStatus.OPEN or locked.received != locked.size:
            return locked, False
        if is_local():
            with open(_path(locked), "r+b") as stored:
                stored.truncate(0)
        else:
            delete_prefix(_parts(locked))
            private_storage().delete(locked.stored_name)
        locked.received = 0
        locked.updated_at = timezone.now()
        locked.save(update_fields=["received", "updated_at"])
    return locked, True


def _compose(upload: ChunkedUpload) -> str:
    """Object storage: the parts, in order from byte 0, into one object `stored_name`; its SHA-256.

    Writing the same bytes twice (two requests finishing at once) replaces the object whole."""
    parts = _PartsReader(upload)
    write_atomic(upload.stored_name, io.BufferedReader(parts, READ_BYTES))
    if parts.offset != upload.size:
        raise FileNotFoundError(f"the parts of {upload.stored_name} end at byte {parts.offset} of {upload.size}")
    return parts.digest.hexdigest()


class _PartsReader(io.RawIOBase):
    """The parts of an upload read as one stream, in order: the part at 0, then the one where it ends."""

    def __init__(self, upload: ChunkedUpload) -> None:
        super().__init__()
        self.upload = upload
        self.offset = 0
        self.digest = hashlib.sha256()
        self._part: IO[bytes] | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self.offset < self.upload.size:
            if self._part is None:
                self._part = private_storage().open(_part(self.upload, self.offset), "rb")
            data = self._part.read(min(len(buffer), self.upload.size - self.offset))
            if data:
                buffer[: len(data)] = data
                self.offset += len(data)
                self.digest.update(data)
                return len(data)
            self._part.close()  # this part is read whole: the next one starts where it ended
            self._part = None
        return 0

    def close(self) -> None:
        if self._part is not None:
            self._part.close()
            self._part = None
        super().close()


def _digest(upload: ChunkedUpload) -> str:
    digest = hashlib.sha256()
    with open(_path(upload), "rb") as stored:
        while data := stored.read(READ_BYTES):
            digest.update(data)
    return digest.hexdigest()


def upload_cancel(*, upload: ChunkedUpload) -> bool:
    """Cancel an open or complete upload and delete its bytes; False when it was used or cancelled."""
    cancelled = ChunkedUpload.objects.filter(
        pk=upload.pk, status__in=[UploadStatus.OPEN, UploadStatus.COMPLETE]
    ).update(status=UploadStatus.CANCELLED, updated_at=timezone.now())
    if cancelled:
        transaction.on_commit(lambda: _delete_after_commit([upload.stored_name], parts=[_parts(upload)]))
    return bool(cancelled)


def chunked_needed(names: list[str]) -> set[str]:
    """`chunked/<random>` and its parts `chunked/<random>.parts/<offset>`: the bytes of an upload
    still open or complete (config.storage.sweep); a used upload's bytes are the image set's now."""

    def owner(name: str) -> str:
        return name.split(".parts/", 1)[0]

    live = set(
        ChunkedUpload.objects.filter(
            stored_name__in={owner(name) for name in names}, status__in=[UploadStatus.OPEN, UploadStatus.COMPLETE]
        ).values_list("stored_name", flat=True)
    )
    return {name for name in names if owner(name) in live}


def uploads_expire() -> int:
    """Cancel the uploads not used before they expired (open or complete) and delete their bytes."""
    expired = ChunkedUpload.objects.filter(
        status__in=[UploadStatus.OPEN, UploadStatus.COMPLETE], expires_at__lt=timezone.now()
    )
    count = 0
    for upload in expired.only("pk", "stored_name", "status"):
        count += upload_cancel(upload=upload)
    if count:
        log.info("%s expired uploads deleted", count)
    return count


class _StagedFile(UploadedFile):
    """The bytes of a complete upload, offered as a temporary file so that filesystem storage moves
    them; `private_name` tells image_set_upload they are stored already (object storage copies them)."""

    def __init__(self, upload: ChunkedUpload) -> None:
        super().__init__(None, name=upload.filename, size=upload.size)
        self.private_name = upload.stored_name

    def temporary_file_path(self) -> str:
        return str(private_storage().path(self.private_name))

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        with private_storage().open(self.private_name, "rb") as stored:
            while data := stored.read(chunk_size or READ_BYTES):
                yield data


def image_set_from_uploads(
    *,
    actor: User,
    project: Project,
    role: SetRole | str,
    upload_ids: list[uuid.UUID],
    side_ids: dict[str, uuid.UUID],
    notes: list[str],
) -> ImageSet:
    """Make an image set from complete uploads through the page's own service.

    The uploads are claimed first (compare-and-set complete -> used, in this transaction): a
    second request with the same ids finds them used and is refused, and a refusal of the set
    (a bad metadata CSV, a submitted project) rolls the claim back, the uploads stay usable.
    """
    wanted = {"uploads": list(dict.fromkeys(upload_ids)), **{f"{side}_upload": [pk] for side, pk in side_ids.items()}}
    with transaction.atomic():
        claimed: dict[str, list[ChunkedUpload]] = {}
        for field, ids in wanted.items():
            claimed[field] = _claim(actor=actor, project=project, ids=ids, field=field)
        total = sum(upload.size for upload in claimed["uploads"])
        if total > settings.IMAGE_UPLOAD_MAX_BYTES:
            raise UploadRejected(
                f"These uploads hold {filesizeformat(total)}, more than the "
                f"{filesizeformat(settings.IMAGE_UPLOAD_MAX_BYTES)} an image set may hold.",
                field="uploads",
            )
        sides = {field: _StagedFile(found[0]) for field, found in claimed.items() if field != "uploads"}
        try:
            image_set = image_set_upload(
                actor=actor,
                project=project,
                role=role,
                files=[_StagedFile(upload) for upload in claimed["uploads"]],
                metadata=sides.get("metadata_upload"),
                manifest=sides.get("manifest_upload"),
                value_map=sides.get("value_map_upload"),
                notes=notes,
            )
        except UploadRejected as exc:  # named by the fields of this request, not the page's form
            named = "uploads" if exc.field == "files" else f"{exc.field}_upload" if exc.field else None
            raise UploadRejected(exc.message, field=named) from None
        every = [upload.pk for found in claimed.values() for upload in found]
        ChunkedUpload.objects.filter(pk__in=every).update(image_set=image_set, updated_at=timezone.now())
        # The side files were read and the files moved (filesystem) or copied (object storage):
        # the uploads' own bytes go once the set is committed.
        used = [upload for found in claimed.values() for upload in found]
        names, parts = [u.stored_name for u in used], [_parts(u) for u in used]  # parts: left by a lost commit
        transaction.on_commit(lambda: _delete_after_commit(names, parts=parts))
    return image_set


def _delete(names: list[str], *, parts: list[str] | None = None) -> None:
    storage = private_storage()
    for name in names:
        storage.delete(name)
    for folder in parts or []:
        delete_prefix(folder)


def _delete_after_commit(names: list[str], *, parts: list[str] | None = None) -> None:
    """Bytes no row needs any more, deleted once the request's change committed. The request has
    succeeded by then: a store that is down (or any other failure) must not answer it with a 500,
    which a client would retry into a 409. What could not be deleted stays in the store, unused
    and named by this warning, until the storage sweep deletes it (config.storage.sweep: no row refers to it)."""
    try:
        _delete(names, parts=parts)
    except Exception:
        log.exception(
            "private storage: could not delete %s after the commit; the storage sweep will",
            ", ".join([*names, *(f"{folder}/*" for folder in parts or [])]),
        )


def _claim(*, actor: User, project: Project, ids: list[uuid.UUID], field: str) -> list[ChunkedUpload]:
    uploads = {u.pk: u for u in ChunkedUpload.objects.filter(pk__in=ids, owner=actor, project=project)}
    missing = [str(pk) for pk in ids if pk not in uploads]
    if missing:
        raise UploadRejected(f"No upload {', '.join(missing)} of yours in this project.", field=field)
    claimed = ChunkedUpload.objects.filter(pk__in=ids, status=UploadStatus.COMPLETE).update(
        status=UploadStatus.USED, updated_at=timezone.now()
    )
    if claimed != len(ids):
        unusable = [
            f"{u.filename} ({u.get_status_display().lower()})" for u in uploads.values() if u.status != "complete"
        ]
        raise UploadRejected(
            f"Only complete uploads make a set; not: {', '.join(unusable) or 'one of them (used meanwhile)'}.",
            field=field,
        )
    storage = private_storage()
    if any(not storage.exists(uploads[pk].stored_name) for pk in ids):
        raise UploadRejected("The bytes of an upload are gone; upload that file again.", field=field)
    return [uploads[pk] for pk in ids]
