"""Uploading an image set: unpack archives, validate every file by content, store, queue the audits.

The slow part (extraction and reading every file) runs before the transaction; the
transaction then locks the project, supersedes the previous set of the role, moves the
accepted files into private storage under random names, records the rows and the activity
and queues the suite. Bytes moved for a transaction that fails are deleted again, and the
temporary folder is always removed.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from audits.archives import ArchiveRejected, archive_kind, extract_archive
from audits.engine.inputs import parse_manifest, parse_metadata_csv, parse_value_map
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import file_sha256, read_file, read_set, sniff_format
from audits.engine.types import FileRecord
from audits.engine.types import ImageSet as EngineSet
from audits.enums import SetRole
from audits.models import ImageFile, ImageSet
from audits.services.runs import audit_run_request
from reviews.enums import Action
from reviews.models import Project, User
from reviews.services.activity import activity_record
from reviews.services.projects import ProjectNotEditable

log = logging.getLogger(__name__)

SIDE_FILE_MAX_BYTES = 5 * 1024 * 1024  # a metadata CSV or a manifest
NAME_MAX = 480  # ImageFile.name holds 500 characters; room for a "~2" suffix
NOTES_MAX = 10
_IMAGE_FORMATS = ("dicom", "nifti", "png")
_NIFTI_SUFFIX = re.compile(r"(\.nii\.gz|\.nii|\.gz)$", re.I)  # as readers.read_set pairs sidecars


class UploadRejected(Exception):
    """The upload is refused as a whole; `field` names the form field the message belongs to."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class _Candidate:
    """One file of the set on local disk: its (unique) name in the set and what the reader made of it."""

    name: str
    path: Path
    size: int = 0
    record: FileRecord | None = None


class _LocalFile(File):  # type: ignore[type-arg]
    """A file already on local disk: FileSystemStorage moves it into place instead of copying it."""

    def __init__(self, path: Path) -> None:
        super().__init__(None, name=path.name)
        self.local_path = path

    def temporary_file_path(self) -> str:
        return str(self.local_path)


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
) -> ImageSet:
    """Record a new current set of `role` from loose files and archives; queue the audit suite.

    Raises ArchiveRejected or UploadRejected (nothing saved) for a refused archive, metadata
    CSV, subgroup value mapping (audits.engine.inputs.parse_value_map) or manifest, and ProjectNotEditable once the project is no longer a draft. Files
    that are not valid images are recorded with their reason, not refused. Anything the
    uploader should know but that is no error (renamed duplicates, metadata rows that match
    no file) is appended to `notes`.
    """
    if not project.is_editable:  # fail before the slow part; checked again under the lock
        raise ProjectNotEditable(project)
    role = SetRole(role)
    report: list[str] = []
    metadata_side = _metadata_side(metadata, report)
    value_map_side = _value_map_side(value_map)
    manifest_side = _manifest_side(manifest, role)
    if not files:
        raise UploadRejected("Choose at least one image file or archive.", field="files")
    with tempfile.TemporaryDirectory(prefix="misyn-upload-", dir=settings.FILE_UPLOAD_TEMP_DIR) as workdir:
        candidates, renamed = _collect(files, Path(workdir), report)
        if not candidates:
            raise UploadRejected(
                "The upload holds no files: its archives contain only folders or hidden files.", field="files"
            )
        rows = _read_all(candidates)
        accepted = {candidate.name for candidate, record in rows if record.accepted}
        for side in (metadata_side, manifest_side):
            side.compare(accepted, report)
        image_set = _record(
            actor=actor,
            project=project,
            role=role,
            rows=rows,
            metadata=metadata_side,
            manifest=manifest_side,
            renamed=renamed,
            value_map=value_map_side,
        )
    log.info(
        "image set %s uploaded to project %s: %s of %s files accepted",
        image_set.pk,
        project.pk,
        image_set.n_accepted,
        image_set.n_files,
    )
    if notes is not None:
        notes.extend(report[:NOTES_MAX])
        if len(report) > NOTES_MAX:
            notes.append(f"… and {len(report) - NOTES_MAX} more notes.")
    return image_set


# --------------------------------------------------------------------------- side files


@dataclass
class _SideFile:
    """A metadata CSV or a manifest: its name, its text and the file names it lists."""

    what: str
    name: str = ""
    text: str = ""
    names: frozenset[str] = frozenset()

    def compare(self, accepted: set[str], report: list[str]) -> None:
        """Tell the uploader when the side file and the set do not list the same files."""
        if not self.text:
            return
        unknown = sorted(self.names - accepted)
        if unknown:
            report.append(
                f"The {self.what} names {len(unknown)} file(s) that are not accepted files of the set, "
                f"e.g. “{unknown[0]}”."
            )
        missing = sorted(accepted - self.names)
        if missing:
            report.append(f"{len(missing)} accepted file(s) have no entry in the {self.what}, e.g. “{missing[0]}”.")


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


# --------------------------------------------------------------------------- files


def _plain_name(raw: str) -> str:
    """A loose file's name: its last path part, printable characters only."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(char for char in base if char.isprintable()).strip()
    return cleaned if cleaned not in ("", ".", "..") else "unnamed"


def _fit(name: str) -> str:
    return name if len(name) <= NAME_MAX else f"{name[: NAME_MAX // 2]}…{name[-(NAME_MAX // 2 - 1) :]}"


def _unique(name: str, taken: set[str]) -> str:
    """`scan.dcm`, then `scan~2.dcm`, `scan~3.dcm`; a double extension (`.nii.gz`) stays whole."""
    name = _fit(name)
    if name in taken:
        folder, slash, base = name.rpartition("/")
        stem, dot, extension = base.partition(".")
        number = 2
        while f"{folder}{slash}{stem}~{number}{dot}{extension}" in taken:
            number += 1
        name = f"{folder}{slash}{stem}~{number}{dot}{extension}"
    taken.add(name)
    return name


def _on_disk(upload: UploadedFile, workdir: Path, index: int) -> Path:
    """The upload's bytes as a local file: Django's own temporary file, or a copy of an in-memory one."""
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        return Path(temporary())
    path = workdir / f"loose-{index:06d}"
    with open(path, "xb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


def _collect(files: list[UploadedFile], workdir: Path, report: list[str]) -> tuple[list[_Candidate], list[str]]:
    """Every file of the upload: archives extracted, loose files as they are, names made unique."""
    found: list[tuple[str, Path]] = []
    for index, upload in enumerate(files):
        label = upload.name or f"file {index + 1}"
        stream = cast(IO[bytes], upload)
        stream.seek(0)
        if archive_kind(stream) is not None:
            try:
                members = extract_archive(stream, workdir)
            except ArchiveRejected as exc:
                raise ArchiveRejected(f"The archive “{label}” was refused: {exc.reason}.") from None
            if not members:
                report.append(f"The archive “{label}” holds no files (only folders or hidden files).")
            found.extend(members)
        else:
            found.append((_plain_name(label), _on_disk(upload, workdir, index)))
    taken: set[str] = set()
    candidates, renamed = [], []
    for name, path in found:
        unique = _unique(name, taken)
        if unique != name:
            renamed.append(f"{name} -> {unique}")
            report.append(f"Renamed a second “{name}” to “{unique}”: names in a set must be unique.")
        candidates.append(_Candidate(name=unique, path=path, size=path.stat().st_size))
    return candidates, renamed


def _read_one(candidate: _Candidate, params: Preprocessing) -> FileRecord:
    try:
        record, _images = read_file(candidate.path, candidate.name, params)
    except Exception:  # the reader promises not to raise; if it does, one file fails, not the upload
        log.exception("reader raised on %s", candidate.name)
        record = FileRecord(name=candidate.name, sha256="", error="file could not be read (internal reader error)")
    if not record.sha256:
        record.sha256 = file_sha256(candidate.path)
    return record


def _is_sidecar_candidate(candidate: _Candidate) -> bool:
    return candidate.name.lower().endswith(".json") and sniff_format(candidate.path) not in _IMAGE_FORMATS


def _read_all(candidates: list[_Candidate]) -> list[tuple[_Candidate, FileRecord]]:
    """Read every file; a `x.json` beside `x.nii(.gz)` becomes that file's sidecar, as in readers.read_set.

    Returns the candidates that are files of the set (an attached sidecar is not one).
    """
    params = Preprocessing()
    sidecars = [c for c in candidates if _is_sidecar_candidate(c)]
    for candidate in candidates:
        if candidate not in sidecars:
            candidate.record = _read_one(candidate, params)
    owners = {
        _NIFTI_SUFFIX.sub("", c.name): c
        for c in candidates
        if c.record is not None and c.record.accepted and c.record.format == "nifti"
    }
    for sidecar in sidecars:
        owner = owners.get(sidecar.name[: -len(".json")])
        pairs = [(owner.name, owner.path)] if owner is not None else []
        records = {r.name: r for r in read_set([*pairs, (sidecar.name, sidecar.path)], "", params).files}
        if owner is not None and owner.name in records:
            owner.record = records[owner.name]
        sidecar.record = records.get(sidecar.name)
    return [(c, c.record) for c in candidates if c.record is not None]


def _storable(value: Any) -> Any:
    """JSON PostgreSQL can store: no NUL characters in strings or keys."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_storable(str(key)): _storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(item) for item in value]
    return value


# --------------------------------------------------------------------------- the transaction


def _record(
    *,
    actor: User,
    project: Project,
    role: SetRole,
    rows: list[tuple[_Candidate, FileRecord]],
    metadata: _SideFile,
    manifest: _SideFile,
    renamed: list[str],
    value_map: _SideFile,
) -> ImageSet:
    storage = storages["private"]
    stored: list[str] = []
    try:
        with transaction.atomic():
            return _record_locked(
                actor=actor,
                project=project,
                role=role,
                rows=rows,
                metadata=metadata,
                manifest=manifest,
                renamed=renamed,
                stored=stored,
                value_map=value_map,
            )
    except BaseException:
        for name in stored:
            storage.delete(name)
        raise


def _record_locked(
    *,
    actor: User,
    project: Project,
    role: SetRole,
    rows: list[tuple[_Candidate, FileRecord]],
    metadata: _SideFile,
    manifest: _SideFile,
    renamed: list[str],
    stored: list[str],
    value_map: _SideFile,
) -> ImageSet:
    locked = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    if not locked.is_editable:
        raise ProjectNotEditable(locked)
    records = [record for _candidate, record in rows]
    accepted = [record for record in records if record.accepted]
    # The old set stops being current first: one_current_set_per_role is checked per statement.
    ImageSet.objects.filter(project=locked, role=role, is_current=True).update(is_current=False)
    image_set = ImageSet.objects.create(
        project=locked,
        role=role,
        is_current=True,
        uploaded_by=actor,
        digest=EngineSet(role=role, files=records, images=[]).digest(),
        n_files=len(records),
        n_accepted=len(accepted),
        n_images=sum(record.slices for record in accepted),
        metadata_name=metadata.name[:255],
        metadata_csv=metadata.text,
        manifest_name=manifest.name[:255],
        manifest_text=manifest.text,
        value_map_name=value_map.name[:255],
        value_map_text=value_map.text,
    )
    image_files = []
    for candidate, record in rows:
        image_file = ImageFile(
            image_set=image_set,
            name=candidate.name,
            size=candidate.size,
            sha256=record.sha256,
            format=record.format if record.accepted else "",
            width=record.width,
            height=record.height,
            slices=record.slices,
            header=_storable(record.header),
            error=record.error[:500],
        )
        if record.accepted:
            image_file.stored.save("image", _LocalFile(candidate.path), save=False)
            stored.append(image_file.stored.name or "")
        image_files.append(image_file)
    ImageFile.objects.bulk_create(image_files, batch_size=500)
    new: dict[str, Any] = {
        "role": str(role),
        "n_files": image_set.n_files,
        "n_accepted": image_set.n_accepted,
        "n_rejected": image_set.n_rejected,
        "digest": image_set.digest,
    }
    if renamed:
        new["renamed"] = renamed[:NOTES_MAX]
    activity_record(actor=actor, action=Action.UPLOAD, obj=image_set, project=locked, new=new)
    Project.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    audit_run_request(project=locked, actor=actor, reason=f"{role} set uploaded")
    return image_set
