"""Ingesting an uploaded image set in the worker: extract, validate, read, store, make current.

The upload request (audits.services.uploads) only streams the files into private storage
under `uploads/<set id>/` and leaves the set `ingesting`, not current. This service, run by
the `audits.ingest_set` task (or in-process by the demo, the CLI and tests), claims the set
with a compare-and-set, extracts its archives under an upload-wide budget, reads every file
with the engine's readers under a declared-size budget, stores the accepted ones under
random names (a DICOM's 128-byte preamble zeroed), reports progress with a heartbeat, and
at the end, under the project lock, makes the set current and queues the audits, but only
while the project is still editable and no newer set of its role became current.

A refused archive ends the set `refused`; any other failure ends it `failed`; both say why
(the limit and the file) and leave the previous current set as it was. A second delivery
of the message finds the set claimed or finished and does nothing; the reconciler resends
a lost message and gives up on a set whose worker was lost AUDIT_MAX_ATTEMPTS times.

Digests: a file's sha256 is of the bytes as uploaded (what the researcher can check with
sha256sum on their own copy), not of the stored copy whose DICOM preamble was zeroed; so
the set digest is the same for a re-upload of the same files, and the same as before
preambles were zeroed.

Stored files are never deleted once their row committed: a failed attempt deletes only the
files it stored itself, before any row names them. The staging copies of a finished ingest
are removed after its final commit.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, QuerySet
from django.template.defaultfilters import pluralize
from django.utils import timezone

from audits.archives import ArchiveRejected, UploadBudget, archive_kind, extract_archive, nested_archive
from audits.engine.inputs import parse_manifest, parse_metadata_csv
from audits.engine.readers import ReadLimits, file_sha256, read_file, read_set, sniff_format
from audits.engine.types import FileRecord
from audits.engine.types import ImageSet as EngineSet
from audits.enums import SetStatus
from audits.models import ImageFile, ImageSet
from audits.selectors import has_synthetic_set
from audits.services.runs import audit_run_request
from config.broker import send_after_commit
from config.storage import (
    StorageUnavailable,
    delete_prefix,
    download,
    is_local,
    local_path,
    private_storage,
    storage_unavailable,
)
from reviews.enums import Action
from reviews.models import Project
from reviews.services.activity import activity_record

log = logging.getLogger(__name__)

NAME_MAX = 480  # ImageFile.name holds 500 characters; room for a "~2" suffix
NOTES_MAX = 10
PREAMBLE_BYTES = 128
HEARTBEAT_SECONDS = 2.0
_IMAGE_FORMATS = ("dicom", "nifti", "png")
_NIFTI_SUFFIX = re.compile(r"(\.nii\.gz|\.nii|\.gz)$", re.I)  # as readers.read_set pairs sidecars
_DB_DOWN = (OperationalError, InterfaceError)


class IngestLost(Exception):
    """This attempt no longer holds the set (the reconciler handed it on, or it already ended)."""


@dataclass
class _Candidate:
    """One file of the set on local disk: its (unique) name, where it is, and what was read."""

    name: str
    path: Path
    movable: bool  # our own copy (extracted, or downloaded from object storage), or a staged upload itself
    nested: str = ""  # why it is refused as an archive inside an archive
    size: int = 0
    record: FileRecord | None = None
    row: ImageFile | None = None


# --------------------------------------------------------------------------- claim and lease


def _lease() -> Any:
    return timezone.now() + timedelta(seconds=settings.AUDIT_LEASE_SECONDS)


def resend_at() -> Any:
    """For an ingest no worker holds, `lease_until` is when the reconciler sends its message again."""
    return timezone.now() + timedelta(seconds=settings.INGEST_QUEUED_RESEND_SECONDS)


# What a waiting set's page says while its message could not reach the broker.
WORKERS_UNREACHABLE = "Queued; the workers are unreachable right now, it will start when they are back."


def ingest_queue(*, image_set_id: int) -> dict[str, bool]:
    """Send the ingest message after the commit that makes it meaningful (config.broker).

    A broker that is down does not fail the caller: the set stays waiting, says so, and is
    due for the reconciler's next pass. The returned dict then gets "unreachable" once the
    commit ran, so the upload's answer can say so too.
    """
    outcome: dict[str, bool] = {}

    def unreachable() -> None:
        outcome["unreachable"] = True
        ImageSet.objects.filter(pk=image_set_id, status=SetStatus.INGESTING, worker="").update(
            message=WORKERS_UNREACHABLE, lease_until=timezone.now()
        )

    send_after_commit("audits.ingest_set", {"image_set_id": image_set_id}, unreachable=unreachable)
    return outcome


def ingest_claim(*, image_set_id: int) -> ImageSet | None:
    """Waiting -> held by this worker; None when another delivery or worker has it, or it ended."""
    updated = ImageSet.objects.filter(pk=image_set_id, status=SetStatus.INGESTING, worker="").update(
        worker=f"{socket.gethostname()}:{os.getpid()}"[:200],
        attempts=F("attempts") + 1,
        lease_until=_lease(),
        n_read=0,
        n_accepted=0,
        message="",
    )
    return ImageSet.objects.select_related("project").get(pk=image_set_id) if updated == 1 else None


def _holding(image_set: ImageSet) -> QuerySet[ImageSet]:
    return ImageSet.objects.filter(pk=image_set.pk, status=SetStatus.INGESTING, attempts=image_set.attempts).exclude(
        worker=""
    )


@dataclass
class _Progress:
    """Counts for the page, written with the lease at most every HEARTBEAT_SECONDS."""

    image_set: ImageSet
    files: int = 0
    read: int = 0
    accepted: int = 0
    last: float = 0.0
    # The time limit per set, checked here between files as well: Celery's soft limit is a
    # signal, and one that lands inside a library's own `except Exception` (an archive or DICOM
    # reader's) is swallowed there, so the ingest would go on past its limit.
    deadline: float = field(default_factory=lambda: time.monotonic() + settings.AUDIT_TASK_TIME_LIMIT)

    def beat(self, *, force: bool = False) -> None:
        if time.monotonic() > self.deadline:
            raise SoftTimeLimitExceeded()
        if not force and time.monotonic() - self.last < HEARTBEAT_SECONDS:
            return
        self.last = time.monotonic()
        updated = _holding(self.image_set).update(
            n_files=self.files, n_read=self.read, n_accepted=self.accepted, lease_until=_lease()
        )
        if updated != 1:
            raise IngestLost

    def count(self, record: FileRecord) -> None:
        self.read += 1
        self.accepted += record.accepted
        self.beat()


# --------------------------------------------------------------------------- the ingest


def image_set_ingest(*, image_set_id: int) -> ImageSet | None:
    """Claim and ingest one set; None when it is not this call's to do (claimed or finished)."""
    image_set = ingest_claim(image_set_id=image_set_id)
    if image_set is None:
        return None
    stored: list[str] = []
    current = [""]  # the file being read, for a failure's message
    try:
        _discard_earlier_attempts(image_set)
        with tempfile.TemporaryDirectory(prefix="misyn-ingest-", dir=settings.FILE_UPLOAD_TEMP_DIR) as workdir:
            progress = _Progress(image_set=image_set)
            candidates, notes = _collect(image_set, Path(workdir), progress)
            progress.files = len(candidates)
            progress.beat(force=True)
            _read_all(candidates, progress, stored, current)
            _finish(image_set=image_set, candidates=candidates, notes=notes, stored=stored)
    except ArchiveRejected as exc:
        _discard(stored)
        _end(image_set=image_set, status=SetStatus.REFUSED, message=exc.reason)
    except IngestLost:
        _discard(stored)
        log.warning("ingest of image set %s was taken over or ended while this attempt ran", image_set.pk)
        return None
    except _DB_DOWN:
        _discard(stored)
        raise  # the task retries; the lease runs out and the reconciler hands the set on
    except Exception as exc:
        if storage_unavailable(exc):
            # The object store is down or overloaded: nothing is wrong with the files. They stay
            # staged, the set waits (claimable again) and the task retries with backoff; once its
            # retries are used up the reconciler resends it every INGEST_QUEUED_RESEND_SECONDS.
            _discard(stored, quietly=True)
            _wait_for_storage(image_set)
            log.warning("ingest of image set %s waits for the object store: %s", image_set.pk, exc)
            raise StorageUnavailable() from exc
        _discard(stored)
        log.exception("ingest of image set %s failed", image_set.pk)
        _end(image_set=image_set, status=SetStatus.FAILED, message=_failure_reason(exc, current[0]))
    image_set.refresh_from_db()
    return image_set


def _failure_reason(exc: BaseException, file_name: str) -> str:
    at = f" while reading “{file_name}”" if file_name else ""
    if isinstance(exc, SoftTimeLimitExceeded):
        return (
            f"Reading the files took longer than the limit of {settings.AUDIT_TASK_TIME_LIMIT} s per set{at}. "
            "Split the set into smaller uploads."
        )
    if isinstance(exc, MemoryError):
        return (
            f"Reading the files needed more than the worker's memory limit of {settings.AUDIT_MEMORY_LIMIT_MB} MB{at}."
        )
    return f"Reading the files failed{at}: {type(exc).__name__}: {exc}"


def _storage_folder(image_set: ImageSet) -> str:
    return f"images/{image_set.pk}"


def _discard_earlier_attempts(image_set: ImageSet) -> None:
    """Files an earlier, lost attempt stored: no row names them (rows are written at the end)."""
    if image_set.attempts > 1 and not image_set.files.exists():
        delete_prefix(_storage_folder(image_set))


def _discard(stored: list[str], *, quietly: bool = False) -> None:
    """This attempt's stored files, whose rows never committed. `quietly` when the store is down:
    what cannot be deleted now is under the set's folder, which the next attempt empties first
    (_discard_earlier_attempts)."""
    storage = private_storage()
    for name in stored:
        try:
            storage.delete(name)
        except Exception as exc:
            if not (quietly and storage_unavailable(exc)):
                raise
            log.warning("could not delete %s while the object store is unavailable: %s", name, exc)
    stored.clear()


# What a waiting set's page says while the object store cannot be reached.
STORAGE_WAIT = (
    "Waiting for the file store, which cannot be reached right now; the uploaded files are kept, "
    "and reading starts again by itself when it is back."
)


def _wait_for_storage(image_set: ImageSet) -> None:
    """Give the set back (not failed): the next delivery of its message claims it again."""
    _holding(image_set).update(worker="", lease_until=resend_at(), message=STORAGE_WAIT)


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


def _collect(image_set: ImageSet, workdir: Path, progress: _Progress) -> tuple[list[_Candidate], list[str]]:
    """Every file of the upload: archives extracted under one budget, loose files as they are, names unique.

    The lease is kept between archives (one archive of a few GiB extracts well within it)."""
    budget = UploadBudget.from_settings()
    notes: list[str] = list(image_set.notes)
    found: list[tuple[str, Path, bool]] = []
    for index, (label, stored_name) in enumerate(image_set.staged):
        path, own = _staged_file(stored_name, workdir, index)
        with open(path, "rb") as handle:
            is_archive = archive_kind(handle) is not None
            if is_archive:
                try:
                    members = extract_archive(handle, workdir, budget=budget)
                except ArchiveRejected as exc:
                    raise ArchiveRejected(f"The archive “{label}” was refused: {exc.reason}.") from None
                if not members:
                    notes.append(f"The archive “{label}” holds no files (only folders or hidden files).")
                found.extend((name, member, True) for name, member in members)
        if is_archive:
            if own:
                path.unlink()  # extracted: the downloaded archive's disk space is the next archive's
            progress.beat()
            continue
        try:
            budget.charge_bytes(path.stat().st_size)
            budget.charge_file()
        except ArchiveRejected as exc:
            raise ArchiveRejected(f"The upload was refused at “{label}”: {exc.reason}.") from None
        found.append((_plain_name(label), path, own))
    if not found:
        raise ArchiveRejected("The upload holds no files: its archives contain only folders or hidden files.")
    taken: set[str] = set()
    candidates = []
    for name, path, movable in found:
        unique = _unique(name, taken)
        if unique != name:
            notes.append(f"Renamed a second “{name}” to “{unique}”: names in a set must be unique.")
        candidate = _Candidate(name=unique, path=path, movable=movable, size=path.stat().st_size)
        if movable:
            candidate.nested = nested_archive(path) or ""
        candidates.append(candidate)
    return candidates, notes


def _staged_file(stored_name: str, workdir: Path, index: int) -> tuple[Path, bool]:
    """A staged upload as a local file, and whether it is this attempt's own copy.

    On the filesystem it is the staged file itself, left as it is for a retry; from object
    storage it is downloaded into the attempt's folder (the worker may be on any host), a copy
    that is moved or changed freely and goes with the folder."""
    if is_local():
        return Path(private_storage().path(stored_name)), False
    return download(stored_name, workdir / f"staged-{index}"), True


def _limits() -> ReadLimits:
    return ReadLimits(declared_bytes=settings.IMAGE_MAX_DECLARED_BYTES)


def _read_one(candidate: _Candidate) -> FileRecord:
    if candidate.nested:
        return FileRecord(name=candidate.name, sha256=file_sha256(candidate.path), error=candidate.nested)
    try:
        # Validation only (no preprocessed images): every frame decodes, as the audits will need.
        record, _images = read_file(candidate.path, candidate.name, None, _limits())
    except (SoftTimeLimitExceeded, MemoryError):
        raise
    except Exception:  # the reader promises not to raise; if it does, one file fails, not the set
        log.exception("reader raised on %s", candidate.name)
        record = FileRecord(name=candidate.name, sha256="", error="file could not be read (internal reader error)")
    if not record.sha256:
        record.sha256 = file_sha256(candidate.path)
    return record


def _is_sidecar_candidate(candidate: _Candidate) -> bool:
    return (
        not candidate.nested
        and candidate.name.lower().endswith(".json")
        and sniff_format(candidate.path) not in _IMAGE_FORMATS
    )


def _read_all(candidates: list[_Candidate], progress: _Progress, stored: list[str], current: list[str]) -> None:
    """Read and store every file; a `x.json` beside `x.nii(.gz)` becomes that file's sidecar, as in
    readers.read_set (it is then no file of the set: its record stays None)."""
    sidecars = [c for c in candidates if _is_sidecar_candidate(c)]
    for candidate in candidates:
        if candidate in sidecars:
            continue
        current[0] = candidate.name
        candidate.record = _read_one(candidate)
        _store(candidate, stored, progress.image_set.pk)
        progress.count(candidate.record)
    owners = {
        _NIFTI_SUFFIX.sub("", c.name): c
        for c in candidates
        if c.record is not None and c.record.accepted and c.record.format == "nifti"
    }
    for sidecar in sidecars:
        current[0] = sidecar.name
        owner = owners.get(sidecar.name[: -len(".json")])
        with ExitStack() as stack:
            pairs = [(owner.name, _where(owner, stack))] if owner is not None else []
            records = {
                r.name: r for r in read_set([*pairs, (sidecar.name, sidecar.path)], "", None, limits=_limits()).files
            }
        if owner is not None and owner.name in records and owner.row is not None:
            owner.record = records[owner.name]
            owner.row.header = _storable(owner.record.header)
        sidecar.record = records.get(sidecar.name)
        if sidecar.record is not None:
            _store(sidecar, stored, progress.image_set.pk)
            progress.count(sidecar.record)
    current[0] = ""
    progress.files = progress.read
    progress.beat(force=True)


def _where(owner: _Candidate, stack: ExitStack) -> Path:
    """The owner of a sidecar was stored already: read it where it is now (an extracted file was
    moved into the storage folder; an upload to object storage left the local copy in place)."""
    if owner.path.exists() or owner.row is None or not owner.row.stored:
        return owner.path
    return stack.enter_context(local_path(owner.row.stored.name or ""))


def _store(candidate: _Candidate, stored: list[str], image_set_id: int) -> None:
    """The file's row (unsaved) and, when accepted, its stored copy under a random name."""
    record = candidate.record
    if record is None:
        return
    row = ImageFile(
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
    candidate.row = row
    if not record.accepted:
        return
    row.image_set_id = image_set_id  # the random name's folder (models.image_upload_to)
    dicom = record.format == "dicom"
    if candidate.movable:
        if dicom:
            _zero_preamble(candidate.path)  # our own copy: zeroed before it is stored
        if is_local():
            row.stored.save("image", _LocalFile(candidate.path), save=False)  # moved into place
        else:
            with open(candidate.path, "rb") as handle:
                row.stored.save("image", File(handle), save=False)
    else:
        with open(candidate.path, "rb") as handle:  # a staged upload stays for a retry: copy it
            row.stored.save("image", File(handle), save=False)
        if dicom:  # only on the filesystem (from object storage every file is our own copy)
            _zero_preamble(Path(private_storage().path(row.stored.name or "")))
    stored.append(row.stored.name or "")


def _zero_preamble(path: Path) -> None:
    """A DICOM's first 128 bytes are free for any content (HTML, an executable's MZ header): the
    stored copy, which downloads and later reads see, gets zeros there, as the standard suggests."""
    with open(path, "r+b") as handle:
        handle.write(bytes(PREAMBLE_BYTES))


class _LocalFile(File):  # type: ignore[type-arg]
    """A file already on local disk: FileSystemStorage moves it into place instead of copying it."""

    def __init__(self, path: Path) -> None:
        super().__init__(None, name=path.name)
        self.local_path = path

    def temporary_file_path(self) -> str:
        return str(self.local_path)


def _storable(value: Any) -> Any:
    """JSON PostgreSQL can store: no NUL characters and no unpaired surrogates (as "?") in strings or keys."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(str(key)): _storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(item) for item in value]
    return value


# --------------------------------------------------------------------------- the end


def _compare_side_files(image_set: ImageSet, accepted: set[str], notes: list[str]) -> None:
    """Tell the uploader when the metadata CSV or the manifest and the set do not list the same files."""
    sides: list[tuple[str, frozenset[str]]] = []
    if image_set.metadata_csv:
        mapping, _warnings = parse_metadata_csv(image_set.metadata_csv)
        sides.append(("metadata CSV", frozenset(mapping)))
    if image_set.manifest_text:
        entries = parse_manifest(image_set.manifest_text, image_set.manifest_name)
        sides.append(("manifest", frozenset(entry["file"] for entry in entries)))
    for what, names in sides:
        unknown = sorted(names - accepted)
        if unknown:
            notes.append(
                f"The {what} names {len(unknown)} file(s) that are not accepted files of the set, e.g. “{unknown[0]}”."
            )
        missing = sorted(accepted - names)
        if missing:
            notes.append(f"{len(missing)} accepted file(s) have no entry in the {what}, e.g. “{missing[0]}”.")


def _bounded(notes: list[str]) -> list[str]:
    if len(notes) <= NOTES_MAX:
        return notes
    return [*notes[:NOTES_MAX], f"… and {len(notes) - NOTES_MAX} more notes."]


def _finish(*, image_set: ImageSet, candidates: list[_Candidate], notes: list[str], stored: list[str]) -> None:
    """Write the file rows and end the ingest: current and audited, or failed with why it cannot be."""
    files = [(c, c.record, c.row) for c in candidates if c.record is not None and c.row is not None]
    records = [record for _c, record, _row in files]
    accepted = [record for record in records if record.accepted]
    _compare_side_files(image_set, {record.name for record in accepted}, notes)
    with transaction.atomic():
        project = Project.objects.select_for_update(no_key=True).get(pk=image_set.project_id)
        if not _holding(image_set).select_for_update().exists():
            raise IngestLost
        for _c, _record, row in files:
            row.image_set_id = image_set.pk
        ImageFile.objects.bulk_create([row for _c, _r, row in files], batch_size=500)
        counts = {
            "n_files": len(records),
            "n_read": len(records),
            "n_accepted": len(accepted),
            "n_images": sum(record.slices for record in accepted),
            "digest": EngineSet(role=image_set.role, files=records, images=[]).digest(),
            "notes": _bounded(notes),
        }
        newer = ImageSet.objects.filter(
            project=project, role=image_set.role, is_current=True, pk__gt=image_set.pk
        ).exists()
        if not project.is_editable:
            reason = (
                "The project was submitted while the files were being read, so this set did not replace the "
                "current one. Upload it again once the project is open for changes."
            )
        elif newer:
            reason = (
                "A newer upload of this set became current while these files were being read; this one was not used."
            )
        else:
            reason = ""
        status = SetStatus.FAILED
        if not reason and not accepted:
            # A set of nothing would replace the current one and be audited as "not computable"
            # (and every empty set has the same digest, so its runs would be reused across sets).
            reason, status = _nothing_readable(records), SetStatus.REFUSED
        if reason:
            _holding(image_set).update(**counts)
            _end(image_set=image_set, status=status, message=reason)
            return
        # The old set stops being current first: one_current_set_per_role is checked per statement.
        ImageSet.objects.filter(project=project, role=image_set.role, is_current=True).update(is_current=False)
        _holding(image_set).update(
            **counts,
            status=SetStatus.READY,
            is_current=True,
            lease_until=None,
            ingested_at=timezone.now(),
        )
        activity_record(
            actor=None,
            action=Action.CHANGE,
            obj=image_set,
            project=project,
            new={
                "status": SetStatus.READY.value,
                "n_files": counts["n_files"],
                "n_accepted": counts["n_accepted"],
                "n_rejected": len(records) - len(accepted),
                "digest": counts["digest"],
            },
        )
        Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())
        # Every audit needs the synthetic set: without one a run would only say "not computable".
        if has_synthetic_set(project):
            audit_run_request(project=project, actor=image_set.uploaded_by, reason=f"{image_set.role} set uploaded")
        _remove_staging_on_commit(image_set)
    log.info(
        "image set %s of project %s ingested: %s of %s files accepted",
        image_set.pk,
        image_set.project_id,
        counts["n_accepted"],
        counts["n_files"],
    )


def _nothing_readable(records: list[FileRecord]) -> str:
    if not records:
        return "The upload held no file to read; the set was not used and the current one, if any, stays."
    examples = "; ".join(f"“{record.name}”: {record.error}" for record in records[:3])
    more = f"; and {len(records) - 3} more" if len(records) > 3 else ""
    return (
        f"None of the {len(records)} file{pluralize(len(records))} could be read as an image ({examples}{more}). "
        "The set was not used: the current one, if any, stays, and no audit ran on it."
    )


def _end(*, image_set: ImageSet, status: SetStatus, message: str, attempt: int | None = None) -> bool:
    """End an ingest that did not make its set current (failed or refused), with why; once."""
    with transaction.atomic():
        queryset = ImageSet.objects.filter(pk=image_set.pk, status=SetStatus.INGESTING)
        queryset = queryset.filter(attempts=image_set.attempts if attempt is None else attempt)
        updated = queryset.update(status=status, message=message[:4000], lease_until=None, ingested_at=timezone.now())
        if updated:
            activity_record(
                actor=None,
                action=Action.CHANGE,
                obj=image_set,
                project=image_set.project,
                new={"status": status.value, "message": message[:500]},
            )
            _remove_staging_on_commit(image_set)
    return updated == 1


def _remove_staging_on_commit(image_set: ImageSet) -> None:
    """The uploaded files as staged: no longer needed once the ingest ended (the set row keeps their names)."""
    storage = private_storage()
    names = [stored_name for _label, stored_name in image_set.staged]

    def remove() -> None:
        # After the commit the ingest has ended: a store that is down must not fail the task now.
        try:
            for name in names:
                storage.delete(name)
            delete_prefix(f"uploads/{image_set.pk}")
        except Exception:
            log.exception(
                "could not delete the staged uploads of image set %s (%s, uploads/%s/); the storage sweep will",
                image_set.pk,
                ", ".join(names),
                image_set.pk,
            )

    transaction.on_commit(remove)


# --------------------------------------------------------------------------- the reconciler


def reconcile_ingests() -> dict[str, int]:
    """Resend ingests whose message may be lost; hand on or give up those whose worker vanished.

    Called by celery beat beside reconcile_runs. A claimed ingest whose lease ran out goes back
    to waiting (its next claim starts over) until it has used AUDIT_MAX_ATTEMPTS, then fails.
    """
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "resent": 0}
    lost = ImageSet.objects.select_related("project").filter(status=SetStatus.INGESTING, lease_until__lt=now)
    for image_set in lost.exclude(worker=""):
        if image_set.attempts >= settings.AUDIT_MAX_ATTEMPTS:
            reason = (
                f"The worker reading these files was lost {image_set.attempts} times (stopped, or out of memory); "
                "giving up. Upload the set again, or split it into smaller uploads."
            )
            counts["failed"] += _end(image_set=image_set, status=SetStatus.FAILED, message=reason)
            continue
        with transaction.atomic():
            handed_on = (
                _holding(image_set).filter(lease_until__lt=now).update(worker="", lease_until=resend_at())
            )  # lease_until__lt again: a heartbeat committed since the select keeps the set
            if handed_on:
                ingest_queue(image_set_id=image_set.pk)
                counts["requeued"] += 1
    for image_set_id in lost.filter(worker="").values_list("pk", flat=True):
        with transaction.atomic():
            waiting = ImageSet.objects.filter(
                pk=image_set_id, status=SetStatus.INGESTING, worker="", lease_until__lt=now
            ).update(lease_until=resend_at(), message="")
            if waiting:
                ingest_queue(image_set_id=image_set_id)
                counts["resent"] += 1
    return counts
