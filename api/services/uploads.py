"""Resumable uploads (api.models.ChunkedUpload) and image sets made from them.

A chunk is appended only at the offset the row says was received, under the row's lock, so
two requests for the same upload never interleave their bytes: a retry of a chunk that
already arrived finds its bytes received and changes nothing, a chunk that would leave a gap
or overlap is refused with the offset to resume from. The bytes live in private storage
under `chunked/<id>` and are moved, not copied, into the image set
(audits.services.uploads.image_set_upload, the page's own service), which marks the uploads
used in the same transaction: an upload makes one set.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from api.enums import UploadStatus
from api.models import ChunkedUpload
from audits.enums import SetRole
from audits.models import ImageSet
from audits.services.uploads import UploadRejected, image_set_upload
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


def _path(upload: ChunkedUpload) -> Path:
    return Path(storages["private"].path(upload.stored_name))


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
    path = _path(upload)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    return upload


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
    with transaction.atomic():
        upload = ChunkedUpload.objects.select_for_update().get(pk=upload_id)
        if chunk.size != upload.size:
            raise ChunkRefused(
                f"Content-Range says the file has {chunk.size} bytes; this upload was opened for {upload.size}.",
                upload=upload,
                status=400,
            )
        if upload.status in (UploadStatus.OPEN, UploadStatus.COMPLETE) and chunk.end < upload.received:
            return upload  # a retry of bytes already here
        if upload.status != UploadStatus.OPEN:
            raise ChunkRefused(f"This upload is {upload.get_status_display().lower()}.", upload=upload)
        if chunk.start != upload.received:
            word = "leave a gap" if chunk.start > upload.received else "overlap bytes already received"
            raise ChunkRefused(
                f"A chunk from byte {chunk.start} would {word}: send the bytes from {upload.received} on.",
                upload=upload,
            )
        written = _write_at(_path(upload), upload.received, chunk.length, read)
        if written != chunk.length:
            raise ChunkRefused(
                f"The body ended after {written} of the {chunk.length} bytes Content-Range announced; "
                f"send the bytes from {upload.received} on again.",
                upload=upload,
                status=400,
            )
        upload.received += written
        upload.updated_at = timezone.now()
        mismatch = _complete(upload) if upload.received == upload.size else ""
        upload.save(update_fields=["received", "status", "updated_at"])
    if mismatch:  # raised after the commit, which keeps the emptied upload
        raise ChunkRefused(mismatch, upload=upload, status=422)
    return upload


def _write_at(path: Path, offset: int, length: int, read: Callable[[int], bytes]) -> int:
    """Write up to `length` bytes from `read` at `offset`; a short body leaves the file as it was."""
    written = 0
    with open(path, "r+b") as out:
        out.seek(offset)
        while written < length:
            data = read(min(READ_BYTES, length - written))
            if not data:
                break
            out.write(data)
            written += len(data)
        if written != length:
            out.truncate(offset)
    return written


def _complete(upload: ChunkedUpload) -> str:
    """Mark the upload complete, or empty it and say why when its digest is not the declared one."""
    if upload.sha256:
        digest = hashlib.sha256()
        with open(_path(upload), "rb") as stored:
            while data := stored.read(READ_BYTES):
                digest.update(data)
        if digest.hexdigest() != upload.sha256:
            with open(_path(upload), "r+b") as stored:
                stored.truncate(0)
            upload.received = 0
            return (
                f"sha256: the received file's SHA-256 is {digest.hexdigest()}, not the declared {upload.sha256}; "
                "its bytes were discarded: send the file again from byte 0."
            )
    upload.status = UploadStatus.COMPLETE
    return ""


def upload_cancel(*, upload: ChunkedUpload) -> bool:
    """Cancel an open or complete upload and delete its bytes; False when it was used or cancelled."""
    cancelled = ChunkedUpload.objects.filter(
        pk=upload.pk, status__in=[UploadStatus.OPEN, UploadStatus.COMPLETE]
    ).update(status=UploadStatus.CANCELLED, updated_at=timezone.now())
    if cancelled:
        transaction.on_commit(lambda: storages["private"].delete(upload.stored_name))
    return bool(cancelled)


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
    """The bytes of a complete upload, offered as a temporary file so that storage moves them."""

    def __init__(self, upload: ChunkedUpload) -> None:
        super().__init__(None, name=upload.filename, size=upload.size)
        self._stored = _path(upload)

    def temporary_file_path(self) -> str:
        return str(self._stored)

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        with open(self._stored, "rb") as stored:
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
        # The side files were read, not moved: their bytes go once the set is committed.
        names = [found[0].stored_name for field, found in claimed.items() if field != "uploads"]
        transaction.on_commit(lambda: _delete(names))
    return image_set


def _delete(names: list[str]) -> None:
    for name in names:
        storages["private"].delete(name)


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
    if any(not _path(uploads[pk]).exists() for pk in ids):
        raise UploadRejected("The bytes of an upload are gone; upload that file again.", field=field)
    return [uploads[pk] for pk in ids]
