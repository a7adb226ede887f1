"""Private files by name, on whichever storage `STORAGES["private"]` configures.

The filesystem is the embedded default; S3-compatible object storage is configured in
production (several worker hosts share nothing but PostgreSQL, Redis and the object store).
Code that needs a real local file (a reader, `np.load`, an archive extractor) asks for one with
`local_path`: on the filesystem storage it is the stored file itself; on object storage it is a
copy in this host's cache (`PRIVATE_CACHE_DIR`). Writes go through `write_atomic`, so a reader
never sees half a file, and folders are removed with `delete_prefix`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages


def private_storage() -> Storage:
    return storages["private"]


def is_local(storage: Storage | None = None) -> bool:
    """True when the private storage is a folder of this host (files have a path)."""
    return isinstance(storage or private_storage(), FileSystemStorage)


@contextmanager
def local_path(name: str) -> Iterator[Path]:
    """A local file holding the stored object `name`, for the duration of the block."""
    storage = private_storage()
    if is_local(storage):
        yield Path(storage.path(name))
        return
    raise NotImplementedError("object storage is configured by config.storage's S3 branch")


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
                shutil.copyfileobj(content, handle, 1024 * 1024)
        os.replace(temporary, path)
        return name
    storage.delete(name)
    file = ContentFile(content) if isinstance(content, bytes) else File(content)
    return storage.save(name, file)


def delete_prefix(prefix: str) -> None:
    """Remove every stored object under the folder `prefix` (no error when there is none)."""
    storage = private_storage()
    if is_local(storage):
        shutil.rmtree(storage.path(prefix), ignore_errors=True)
        return
    raise NotImplementedError("object storage is configured by config.storage's S3 branch")
