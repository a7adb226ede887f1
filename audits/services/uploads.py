"""Uploading an image set: check the small side files, stage the uploaded files, queue the ingest.

The request does only what is cheap and bounded: it validates the metadata CSV, the value
mapping and the manifest (form errors the uploader can fix at once), streams every uploaded
file into private storage under `uploads/<set id>/` (Django's upload handler already wrote
large ones to temporary files: they are moved, not copied), and records the set as
`ingesting`, not current. Extraction, validation and reading happen in the worker
(audits.services.ingest), under its memory and time limits; the message is sent after the
commit, and a broker that is down leaves the set waiting for the reconciler, not a 500.
Staged bytes whose row did not commit are deleted again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from audits.engine.inputs import parse_manifest, parse_metadata_csv, parse_value_map
from audits.enums import SetRole, SetStatus
from audits.models import ImageSet
from audits.services.ingest import NOTES_MAX, image_set_ingest, ingest_queue, resend_at
from config.storage import copy, is_local, private_storage
from reviews.enums import Action
from reviews.models import Project, User
from reviews.services.activity import activity_record
from reviews.services.projects import ProjectNotEditable

log = logging.getLogger(__name__)

SIDE_FILE_MAX_BYTES = 5 * 1024 * 1024  # a metadata CSV or a manifest


class UploadRejected(Exception):
    """The upload is refused as a whole; `field` names the form field the message belongs to."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def image_set_upload(
    *,
    actor: User,
    project: Project,
    role: SetRole | str,
    files: list[UploadedFile],
    metadata: UploadedFile | None = None,
    manifest: UploadedFile | None = None,
    notes: list[str] | None = None,
    value_map: UploadedFile | None = None,
    ingest_now: bool = False,
) -> ImageSet:
    """Stage a new set of `role` from loose files and archives and queue its ingest.

    Raises UploadRejected (nothing saved) for a refused metadata CSV, subgroup value mapping
    (audits.engine.inputs.parse_value_map) or manifest, and ProjectNotEditable once the
    project is no longer a draft. The set becomes current only when the ingest succeeds.
    `ingest_now` runs the ingest in this process instead of a worker (the demo, the command
    line, tests): the same service, called directly. Notes for the uploader (metadata rows
    with problems) are appended to `notes`; the ingest keeps its own on the set.
    """
    if not project.is_editable:  # checked again under the lock
        raise ProjectNotEditable(project)
    role = SetRole(role)
    report: list[str] = []
    metadata_side = _metadata_side(metadata, report)
    value_map_side = _value_map_side(value_map)
    manifest_side = _manifest_side(manifest, role)
    if not files:
        raise UploadRejected("Choose at least one image file or archive.", field="files")
    storage = private_storage()
    staged: list[list[str]] = []
    try:
        with transaction.atomic():
            locked = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
            if not locked.is_editable:
                raise ProjectNotEditable(locked)
            image_set = ImageSet.objects.create(
                project=locked,
                role=role,
                is_current=False,
                status=SetStatus.INGESTING,
                uploaded_by=actor,
                notes=report[:NOTES_MAX],
                lease_until=resend_at(),
                metadata_name=metadata_side.name[:255],
                metadata_csv=metadata_side.text,
                manifest_name=manifest_side.name[:255],
                manifest_text=manifest_side.text,
                value_map_name=value_map_side.name[:255],
                value_map_text=value_map_side.text,
            )
            for index, upload in enumerate(files):
                label = upload.name or f"file {index + 1}"
                name = _stage(f"uploads/{image_set.pk}/{uuid.uuid4().hex}", upload)
                staged.append([label, name])
            image_set.staged = staged
            image_set.save(update_fields=["staged"])
            activity_record(
                actor=actor,
                action=Action.UPLOAD,
                obj=image_set,
                project=locked,
                new={"role": str(role), "status": SetStatus.INGESTING.value, "uploaded_files": len(staged)},
            )
            Project.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
            outcome = {} if ingest_now else ingest_queue(image_set_id=image_set.pk)
    except BaseException:
        for _label, name in staged:  # their row never committed
            storage.delete(name)
        raise
    log.info("image set %s staged for project %s: %s files", image_set.pk, project.pk, len(staged))
    if ingest_now:
        image_set_ingest(image_set_id=image_set.pk)
        image_set.refresh_from_db()
    image_set.workers_unreachable = outcome.get("unreachable", False)  # type: ignore[attr-defined]
    if notes is not None:
        notes.extend(report[:NOTES_MAX])
        if len(report) > NOTES_MAX:
            notes.append(f"… and {len(report) - NOTES_MAX} more notes.")
    return image_set


def _stage(name: str, upload: UploadedFile) -> str:
    """Store one uploaded file under `name`. A temporary upload is moved into place on the
    filesystem storage, a small one written out; bytes that are in private storage already (an
    API upload names them as `private_name`) are copied by the object store, not through here."""
    source = getattr(upload, "private_name", "")
    if source and not is_local():
        return copy(source, name)
    return private_storage().save(name, upload)


# --------------------------------------------------------------------------- side files


@dataclass
class _SideFile:
    """A metadata CSV or a manifest: its name, its text and the file names it lists."""

    what: str
    name: str = ""
    text: str = ""
    names: frozenset[str] = frozenset()


def _side_text(upload: UploadedFile, *, what: str, field: str) -> str:
    name = upload.name or field
    size = upload.size or 0
    if size > SIDE_FILE_MAX_BYTES:
        raise UploadRejected(
            f"“{name}” is {filesizeformat(size)}; a {what} may be at most {filesizeformat(SIDE_FILE_MAX_BYTES)}.",
            field=field,
        )
    raw = b"".join(upload.chunks())
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadRejected(
            f"“{name}” is not UTF-8 text (invalid byte at position {exc.start}); save the {what} as UTF-8.",
            field=field,
        ) from None
    if "\x00" in text:
        raise UploadRejected(f"“{name}” contains NUL bytes: it is not a text file.", field=field)
    return text


def _metadata_side(metadata: UploadedFile | None, report: list[str]) -> _SideFile:
    side = _SideFile(what="metadata CSV")
    if metadata is None:
        return side
    text = _side_text(metadata, what="metadata CSV", field="metadata")
    try:
        mapping, warnings = parse_metadata_csv(text)
    except ValueError as exc:
        raise UploadRejected(f"“{metadata.name}”: {exc}.", field="metadata") from None
    report.extend(f"Metadata CSV, {warning}." for warning in warnings[:NOTES_MAX])
    return _SideFile(what=side.what, name=metadata.name or "", text=text, names=frozenset(mapping))


def _value_map_side(value_map: UploadedFile | None) -> _SideFile:
    side = _SideFile(what="value mapping")
    if value_map is None:
        return side
    text = _side_text(value_map, what="value mapping CSV", field="value_map")
    try:
        parse_value_map(text)
    except ValueError as exc:
        raise UploadRejected(f"“{value_map.name}”: {exc}.", field="value_map") from None
    return _SideFile(what=side.what, name=value_map.name or "", text=text)


def _manifest_side(manifest: UploadedFile | None, role: SetRole) -> _SideFile:
    side = _SideFile(what="manifest")
    if manifest is None:
        return side
    if role != SetRole.SYNTHETIC:
        raise UploadRejected(
            "A generation manifest belongs to the synthetic set only; remove it or choose the synthetic set.",
            field="manifest",
        )
    text = _side_text(manifest, what="manifest", field="manifest")
    try:
        entries = parse_manifest(text, manifest.name or "")
    except ValueError as exc:
        raise UploadRejected(f"“{manifest.name}”: {exc}.", field="manifest") from None
    return _SideFile(what=side.what, name=manifest.name or "", text=text, names=frozenset(e["file"] for e in entries))
