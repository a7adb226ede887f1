"""The audit-run ledger: request, claim, chunks, merge, exactly one result, reconcile.

A run moves queued -> running -> succeeded | failed (| cancelled). Every transition is a
compare-and-set on the status (and the attempt for writes from a worker), so a message
delivered twice, a worker killed mid-run or a reconciler racing a slow worker all end
with one final state and one result. Celery messages are sent only after the commit
that makes them meaningful, by task name, so this module does not import the tasks.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from audits.engine.preprocess import Preprocessing
from audits.engine.types import FileRecord, Image
from audits.engine.types import ImageSet as EngineSet
from audits.enums import FINAL_RUN_STATUSES, ChunkKind, RunStatus, SetRole
from audits.models import AuditChunk, AuditRun, ImageFile
from audits.selectors import current_params, current_sets, run_input_digest
from config.broker import send_after_commit
from config.storage import delete_prefix, local_path, private_storage, write_atomic
from reviews.enums import Action, EventKind
from reviews.events import event_emit
from reviews.models import Project, User
from reviews.services.activity import activity_record

log = logging.getLogger(__name__)


# What a queued run's page says while its message could not reach the broker.
WORKERS_UNREACHABLE = "Queued; the workers are unreachable right now, it will start when they are back"


def _send(task: str, **kwargs: Any) -> None:
    """Send after commit; a broker that is down leaves the row queued for the reconciler
    (config.broker). A run that could not be started says so on its page."""
    run_id = kwargs.get("run_id")
    unreachable = (lambda: _mark_unreachable(run_id)) if task == "audits.start_run" and run_id else None
    send_after_commit(task, kwargs, unreachable=unreachable)


def _mark_unreachable(run_id: int) -> None:
    """Say so on the queued run, and make it due for the reconciler's next pass (which runs
    as soon as the broker is back), rather than AUDIT_QUEUED_RESEND_SECONDS later."""
    AuditRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        progress_message=WORKERS_UNREACHABLE, lease_until=timezone.now()
    )


def run_waiting_for_workers(run: AuditRun) -> bool:
    """True when the run is queued and its message could not be sent (one query)."""
    return AuditRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED, progress_message=WORKERS_UNREACHABLE).exists()


@transaction.atomic
def audit_run_request(*, project: Project, actor: User | None, reason: str) -> AuditRun:
    """Queue the suite over the project's current sets, or reuse a finished run on the same inputs."""
    # One request at a time per project: a double click must not queue the same run twice.
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    sets = current_sets(project)
    params = current_params(project)
    digest = run_input_digest(sets, params)
    pending = AuditRun.objects.filter(
        project=project, input_digest=digest, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
    ).first()
    if pending is not None:
        return pending
    _cancel_superseded(project=project, actor=actor)
    previous = (
        AuditRun.objects.filter(project=project, input_digest=digest, status=RunStatus.SUCCEEDED)
        .order_by("-finished_at")
        .first()
    )
    now = timezone.now()
    run = AuditRun.objects.create(
        project=project,
        requested_by=actor,
        reason=reason[:200],
        params=params,
        input_digest=digest,
        status=RunStatus.SUCCEEDED if previous else RunStatus.QUEUED,
        results=previous.results if previous else None,
        reused_from=previous,
        started_at=now if previous else None,
        finished_at=now if previous else None,
        progress=100 if previous else 0,
        progress_message="Same inputs as an earlier run: its results are reused."
        if previous
        else "Waiting for a worker",
        lease_until=None if previous else _resend_at(),
    )
    run.sets.set(sets.values())
    activity_record(
        actor=actor,
        action=Action.CREATE,
        obj=run,
        project=project,
        new={"reason": run.reason, "input_digest": digest, "reused_from": previous.pk if previous else None},
    )
    if previous is None:
        _send("audits.start_run", run_id=run.pk)
    else:  # reused results: this run is finished the moment it exists
        event_emit(
            event=EventKind.AUDIT_RUN_FINISHED,
            project=project,
            data={"run_id": run.pk, "status": run.status, "verdicts": _verdicts(run.results)},
        )
    return run


def _verdicts(results: dict[str, Any] | None) -> dict[str, Any]:
    return {name: result.get("status") for name, result in (results or {}).items()}


def _cancel_superseded(*, project: Project, actor: User | None) -> None:
    """Queued runs over older inputs will never be read: cancel them (compare-and-set on queued).

    Several uploads in a row then compute once, over the last inputs. Running runs finish:
    their results stay a true record of the inputs they had.
    """
    cancelled = []
    for run in AuditRun.objects.filter(project=project, status=RunStatus.QUEUED):
        updated = AuditRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED,
            error="Superseded: the image sets changed before a worker started this run.",
            finished_at=timezone.now(),
            progress_message="Cancelled",
        )
        if updated:
            cancelled.append(run)
    # Logged after every run row is settled: the log's chain head is always the last lock a
    # transaction takes, so a worker holding a run and waiting for the head cannot deadlock us.
    for run in cancelled:
        activity_record(actor=actor, action=Action.CHANGE, obj=run, project=project, new={"status": "cancelled"})
        # A hook waiting for this run hears that it ended, as for a success or a failure.
        event_emit(
            event=EventKind.AUDIT_RUN_FINISHED,
            project=project,
            data={"run_id": run.pk, "status": RunStatus.CANCELLED, "verdicts": {}},
        )
        _delete_artifacts(run)


def _resend_at() -> Any:
    """For a queued run, `lease_until` is when the reconciler sends its message again."""
    return timezone.now() + timedelta(seconds=settings.AUDIT_QUEUED_RESEND_SECONDS)


def _lease() -> Any:
    return timezone.now() + timedelta(seconds=settings.AUDIT_LEASE_SECONDS)


def run_claim(*, run_id: int) -> AuditRun | None:
    """queued -> running for this worker; None when another delivery or worker has it."""
    updated = AuditRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING,
        attempts=F("attempts") + 1,
        lease_until=_lease(),
        worker=f"{socket.gethostname()}:{os.getpid()}",
        started_at=timezone.now(),
        progress_message="Reading images",
    )
    return AuditRun.objects.get(pk=run_id) if updated == 1 else None


def _running(run_id: int, attempt: int) -> QuerySet[AuditRun]:
    return AuditRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, attempts=attempt)


HEARTBEAT_SECONDS = 10


def run_keep_lease(*, run: AuditRun) -> bool:
    """Extend the lease of a run this attempt still holds (no progress change)."""
    return _running(run.pk, run.attempts).update(lease_until=_lease()) == 1


class RunLost(Exception):
    """The run is no longer this attempt's (it ended, or was re-queued to another attempt)."""


def run_lease_keeper(run: AuditRun) -> Callable[[], None]:
    """A heartbeat for a long step: it extends the lease, and raises RunLost once the run is
    no longer this attempt's, so that the step stops instead of working for nobody."""

    def keep() -> None:
        if not run_keep_lease(run=run):
            raise RunLost(f"audit run {run.pk} is no longer held by attempt {run.attempts}")

    return keep


def run_heartbeat(*, run: AuditRun, progress: int, message: str) -> bool:
    """Extend the lease and report progress; False when the run is no longer this attempt's."""
    return (
        _running(run.pk, run.attempts).update(lease_until=_lease(), progress=progress, progress_message=message[:200])
        == 1
    )


@transaction.atomic
def run_plan_chunks(*, run: AuditRun) -> list[int]:
    """Split the accepted files of every set into chunks; return the indexes still to do."""
    if not run.chunks.exists():
        index = 0
        chunk_size = settings.AUDIT_CHUNK_FILES
        for image_set in run.sets.order_by("role"):
            ids = list(image_set.files.filter(error="").order_by("name").values_list("pk", flat=True))
            for start in range(0, len(ids), chunk_size):
                AuditChunk.objects.create(
                    run=run, index=index, role=image_set.role, file_ids=ids[start : start + chunk_size]
                )
                index += 1
        AuditRun.objects.filter(pk=run.pk).update(chunks_total=index)
    return _advance(run)


def _advance(run: AuditRun) -> list[int]:
    """Send what the run waits for: its unread chunks, else its copy-search plan or unsearched
    blocks, else its merge. Return the chunk indexes sent (a re-queued run resumes here)."""
    for kind in (ChunkKind.READ, ChunkKind.SEARCH):
        pending = list(run.chunks.filter(kind=kind, done=False).values_list("index", flat=True))
        for index in pending:
            _send("audits.process_chunk", run_id=run.pk, attempt=run.attempts, index=index)
        if pending:
            return pending
        if kind == ChunkKind.READ and not run.chunks.filter(kind=ChunkKind.SEARCH).exists():
            _send_once(run, "search_sent", "audits.plan_search")
            return []
    _send_once(run, "merge_sent", "audits.merge_run")
    return []


FIDELITY_PREFIX = "fidelity_"  # a chunk artifact's fidelity summary (audits.engine.fidelity.summary)


def _audit_params(run: AuditRun, audit: str) -> dict[str, Any] | None:
    return (run.params.get("audits") or {}).get(audit)


def _file_records(rows: Iterable[Any], read_errors: dict[int, str] | None = None) -> list[FileRecord]:
    """The engine's file records of ImageFile rows; a file accepted at upload that the worker could not
    read carries its `read_errors` entry (by file id).

    Headers are kept as the audits read them (with `.get`), smaller: top-level nulls left out and
    equal strings (the keys of every DICOM header, repeated values) one object. A DICOM header
    decoded from the database is about 45 keys and 5 KiB; thousands of them are the bulk of a merge.
    """
    read_errors = read_errors or {}
    shared: dict[str, str] = {}
    return [
        FileRecord(
            name=_shared(f.name, shared),
            sha256=f.sha256,
            format=_shared(f.format, shared),
            width=f.width,
            height=f.height,
            slices=f.slices,
            header=_compact_header(f.header, shared),
            error=f.error or read_errors.get(f.pk, ""),
        )
        for f in rows
    ]


# What a FileRecord holds of an ImageFile row (the rows are streamed, not kept, while records are made).
_RECORD_FIELDS = ("pk", "name", "sha256", "format", "width", "height", "slices", "header", "error")


def _shared(text: str, shared: dict[str, str]) -> str:
    return shared.setdefault(text, text)


def _compact_header(value: Any, shared: dict[str, str], top: bool = True) -> Any:
    """`value` with equal strings made one object; at the top level, keys holding null left out."""
    if isinstance(value, str):
        return _shared(value, shared)
    if isinstance(value, dict):
        return {
            _shared(str(key), shared): _compact_header(item, shared, top=False)
            for key, item in value.items()
            if not (top and item is None)
        }
    if isinstance(value, list):
        return [_compact_header(item, shared, top=False) for item in value]
    return value


def _artifact_name(run_id: int, index: int, attempt: int | None, kind: str = "chunk") -> str:
    """A chunk's file, named per attempt: a stale attempt deletes only its own file (chunk_complete),
    never the one a newer attempt wrote for the same chunk; a redelivery rewrites its own."""
    suffix = "" if attempt is None else f"-a{attempt}"
    return f"{_run_prefix(run_id)}{kind}-{index}{suffix}.npz"


def chunk_compute(
    *,
    chunk: AuditChunk,
    params: Preprocessing,
    heartbeat: Callable[[], object] | None = None,
    attempt: int | None = None,
) -> str:
    """Read, validate and preprocess a chunk's files, extract features, store the arrays.

    Idempotent per attempt: the artifact's name holds the chunk and the attempt and is written
    atomically, so a redelivered chunk overwrites its own attempt's earlier output with the same
    content, and never the file of another attempt of the same chunk.
    """
    from audits.engine import features as feature_set
    from audits.engine import fidelity
    from audits.engine.fidelity.scale import sidecar_units
    from audits.engine.readers import read_file

    files = {f.pk: f for f in ImageFile.objects.filter(pk__in=chunk.file_ids)}
    pixels, digests, labels, blanks, errors = [], [], [], [], {}
    natives, units = [], []  # each image in its file's own units (HU for CT), for quantitative fidelity
    read_images: list[Image] = []
    last_beat = time.monotonic()
    for file_id in chunk.file_ids:
        if heartbeat is not None and time.monotonic() - last_beat > HEARTBEAT_SECONDS:
            heartbeat()  # a long chunk keeps its run's lease
            last_beat = time.monotonic()
        image_file = files.get(file_id)
        if image_file is None:
            continue
        with local_path(image_file.stored.name) as path:
            record, images = read_file(path, image_file.name, params)
        if record.error:
            errors[file_id] = record.error
        read_images.extend(images)
        for image in images:
            pixels.append(image.pixels)
            digests.append(image.pixel_sha256)
            labels.append((image.file, image.index))
            blanks.append(image.blank)
            natives.append(image.native if image.native is not None else np.full_like(image.pixels, np.nan))
            units.append(image.unit)
    stack = np.stack(pixels) if pixels else np.zeros((0, params.size, params.size), np.float32)
    native_stack = np.stack(natives) if natives else np.zeros((0, params.size, params.size), np.float32)
    usable = [p for p, blank in zip(pixels, blanks, strict=True) if not blank]
    feats = feature_set.extract_many(usable) if usable else np.zeros((0, len(feature_set.FEATURE_NAMES)))
    # what the fidelity audit needs of these images, so that the merge reads no pixels
    summary = fidelity.chunk_summary(
        read_images, _audit_params(chunk.run, "fidelity"), sidecar_units(_file_records(files.values()))
    )
    fidelity_arrays: dict[str, Any] = {f"{FIDELITY_PREFIX}{key}": value for key, value in summary.items()}
    buffer = io.BytesIO()
    np.savez(
        buffer,
        pixels=stack.astype(np.float32),
        digests=np.array(digests, dtype="U64"),
        files=np.array([name for name, _ in labels], dtype=object),
        indexes=np.array([index for _, index in labels], dtype=np.int64),
        blanks=np.array(blanks, dtype=bool),
        native=native_stack.astype(np.float32),
        units=np.array(units, dtype="U16"),
        features=feats,
        errors=np.array(json.dumps(errors)),
        **fidelity_arrays,
    )
    return write_atomic(_artifact_name(chunk.run_id, chunk.index, attempt), buffer.getvalue())


@transaction.atomic
def chunk_complete(*, run: AuditRun, index: int, artifact: str) -> bool:
    """Mark a chunk done once; when it was the last of its kind, send the next step exactly once
    (the copy-search plan after the last read chunk, the merge after the last search block).

    True only for the call that marked it: a chunk already done (a redelivered or duplicated
    message) changes neither the progress nor what is sent. The next step is sent in the same
    transaction as the last mark (its flag set, its message after commit); a worker lost between
    the commit and the send leaves the lease to expire, and the re-queued run resumes in
    `run_plan_chunks`."""
    locked = AuditRun.objects.select_for_update(no_key=True).get(pk=run.pk)
    if locked.status != RunStatus.RUNNING or locked.attempts != run.attempts:
        # Too late (the run ended or was re-queued): this attempt's output is nobody's.
        if not AuditChunk.objects.filter(run=locked, index=index, artifact=artifact).exists():
            storage = private_storage()
            transaction.on_commit(lambda: storage.delete(artifact))
        return False
    marked = AuditChunk.objects.filter(run=locked, index=index, done=False).update(
        done=True, artifact=artifact, finished_at=timezone.now()
    )
    if marked != 1:  # already done: keep its file; a different one from this call is nobody's
        if not AuditChunk.objects.filter(run=locked, index=index, artifact=artifact).exists():
            storage = private_storage()
            transaction.on_commit(lambda: storage.delete(artifact))
        return False
    kind = AuditChunk.objects.filter(run=locked, index=index).values_list("kind", flat=True).first()
    of_kind = locked.chunks.filter(kind=kind)
    done, total = of_kind.filter(done=True).count(), of_kind.count()
    if kind == ChunkKind.SEARCH:
        progress, message = 50 + int(30 * done / total), f"Searched {done} of {total} blocks of images for copies"
    else:
        progress, message = int(50 * done / max(total, 1)), f"Read {done} of {total} chunks"
    run_heartbeat(run=locked, progress=progress, message=message)
    if done == total:
        _advance(locked)
    return True


def _send_once(run: AuditRun, flag: str, task: str) -> None:
    """Send `task` for this attempt unless `flag` says it was sent (compare-and-set on the flag)."""
    if AuditRun.objects.filter(pk=run.pk, **{flag: False}).update(**{flag: True}) == 1:
        _send(task, run_id=run.pk, attempt=run.attempts)


# Query images per search task at most (a chunk of 3-D files can hold thousands of slices); each
# query set (synthetic, baseline) is cut into blocks of equal size whose number is a multiple of
# SEARCH_SHARES, so that 1, 2 or 4 worker processes get equal shares of the search and none is
# left with a short tail (every block also reads every reference chunk and makes its thumbnails
# and spectra, about 1 ms of CPU per reference image: fewer blocks cost less; a block of 512 holds
# its candidates' pixels, at most 21 per query image at 16 KiB each, 168 MiB in the worst case).
SEARCH_BLOCK_IMAGES = 512
SEARCH_SHARES = 4


def _memorization_params(run: AuditRun) -> dict[str, Any]:
    from audits.engine.memorization import resolve_params

    return resolve_params((run.params.get("audits") or {}).get("memorization"))


def _read_chunks(run: AuditRun) -> QuerySet[AuditChunk]:
    return run.chunks.filter(kind=ChunkKind.READ).order_by("index")


def _arrays(chunk: AuditChunk, *keys: str) -> dict[str, np.ndarray]:
    """Only the named arrays of a chunk's artifact (an .npz member is read when asked for)."""
    with local_path(chunk.artifact) as path, np.load(path, allow_pickle=True) as data:
        return {key: data[key] for key in keys}


def _usable_positions(run: AuditRun, role: str) -> Iterator[tuple[AuditChunk, np.ndarray, np.ndarray]]:
    """(chunk, positions of its usable images, their pixel digests) for each read chunk of `role`."""
    for chunk in _read_chunks(run).filter(role=role):
        data = _arrays(chunk, "blanks", "digests")
        positions = np.flatnonzero(~data["blanks"].astype(bool))
        yield chunk, positions, data["digests"][positions]


def run_plan_search(*, run: AuditRun, heartbeat: Callable[[], object] | None = None) -> list[int]:
    """Once every read chunk is done: one search chunk per block of query images, sent; none
    (and the merge sent) when the memorization audit cannot run on these sets.

    The baseline's seeded sample is drawn here, from the digests of the whole sets, so that
    the tasks search exactly the rows the in-process audit would. The blocks are computed
    before the run's row is locked (reading every artifact, each a download on object storage,
    while `heartbeat` keeps the lease); the lock then only checks the attempt and inserts.
    """
    if not _running(run.pk, run.attempts).exists():
        return []
    blocks = None
    if not run.chunks.filter(kind=ChunkKind.SEARCH).exists():
        blocks = list(_search_blocks(run, heartbeat))
    return _plan_search_insert(run, blocks)


@transaction.atomic
def _plan_search_insert(run: AuditRun, blocks: list[tuple[str, str, list[list[Any]]]] | None) -> list[int]:
    locked = AuditRun.objects.select_for_update(no_key=True).get(pk=run.pk)
    if locked.status != RunStatus.RUNNING or locked.attempts != run.attempts:
        return []
    if blocks is not None and not locked.chunks.filter(kind=ChunkKind.SEARCH).exists():
        index = locked.chunks.count()
        for role, which, parts in blocks:
            AuditChunk.objects.create(
                run=locked,
                index=index,
                kind=ChunkKind.SEARCH,
                role=role,
                file_ids=[],
                query={"which": which, "parts": parts},
            )
            index += 1
    if not locked.chunks.filter(kind=ChunkKind.SEARCH).exists():  # nothing to search: merge
        _send_once(locked, "merge_sent", "audits.merge_run")
        return []
    run_heartbeat(run=locked, progress=50, message="Searching the images for copies")
    return _advance(locked)


def _search_blocks(
    run: AuditRun, heartbeat: Callable[[], object] | None = None
) -> Iterator[tuple[str, str, list[list[Any]]]]:
    """(role of the query images, "synthetic" or "baseline", the block's parts: `_equal_blocks`)."""
    from audits.engine.memorization import baseline_plan, check_computable

    if heartbeat is not None:
        heartbeat()
    sets = load_engine_sets(run, Preprocessing(**run.params.get("preprocess", {})), pixels=False)
    if heartbeat is not None:
        heartbeat()  # reading the artifacts (downloads on object storage) took a while
    synthetic, reference = sets.get(SetRole.SYNTHETIC), sets.get(SetRole.REFERENCE)
    holdout = sets.get(SetRole.HOLDOUT)
    p = _memorization_params(run)
    if synthetic is None or reference is None or check_computable(synthetic, reference, holdout, p["max_shift"]):
        return
    located = {role: list(_usable_positions(run, role)) for role in (SetRole.SYNTHETIC, SetRole.REFERENCE)}
    located[SetRole.HOLDOUT] = list(_usable_positions(run, SetRole.HOLDOUT)) if holdout is not None else []
    if heartbeat is not None:
        heartbeat()
    # each set's usable rows, as (read chunk index, image position)
    where = {
        role: [(c.index, int(i)) for c, positions, _d in found for i in positions] for role, found in located.items()
    }
    for block in _equal_blocks(where[SetRole.SYNTHETIC]):
        yield SetRole.SYNTHETIC, "synthetic", block
    digests = {role: [str(d) for _c, _p, ds in found for d in ds] for role, found in located.items()}
    plan = baseline_plan(digests[SetRole.REFERENCE], digests[SetRole.HOLDOUT], p)
    role = SetRole.HOLDOUT if plan.kind == "holdout" else SetRole.REFERENCE
    for block in _equal_blocks([where[role][int(row)] for row in plan.rows]):
        yield role, "baseline", block


def _equal_blocks(rows: list[tuple[int, int]]) -> Iterator[list[list[Any]]]:
    """`rows` (read chunk index, image position) in order, cut into consecutive blocks of equal size
    (one apart at most): the fewest of at most SEARCH_BLOCK_IMAGES rows each, rounded up to a
    multiple of SEARCH_SHARES (never more blocks than rows). Each block as its parts:
    [[read chunk index, [positions]], ...], one part per run of rows from the same chunk."""
    if not rows:
        return
    count = -(-len(rows) // SEARCH_BLOCK_IMAGES)
    count = min(len(rows), -(-count // SEARCH_SHARES) * SEARCH_SHARES)
    bounds = np.linspace(0, len(rows), count + 1).round().astype(int)
    for start, stop in itertools.pairwise(bounds):
        parts: list[list[Any]] = []
        for source, position in rows[start:stop]:
            if not parts or parts[-1][0] != source:
                parts.append([source, []])
            parts[-1][1].append(position)
        yield parts


def search_compute(*, chunk: AuditChunk, run: AuditRun, heartbeat: Callable[[], object] | None = None) -> str:
    """One search chunk: its query images against every reference block, scores stored.

    Reads one reference chunk at a time, then only the candidates' pixels; idempotent like
    `chunk_compute` (a fixed name, written atomically).
    """
    from audits.engine.memorization import duplicate_groups, search_block

    p = _memorization_params(run)
    references = list(_usable_positions(run, SetRole.REFERENCE))
    offsets = np.cumsum([0] + [len(positions) for _c, positions, _d in references])
    # a block planned before blocks could span read chunks names one source chunk and its positions
    listed = chunk.query.get("parts") or [[chunk.query["source"], chunk.query["positions"]]]
    parts = [(int(source), np.asarray(positions, dtype=np.int64)) for source, positions in listed]
    sources = {c.index: c for c in run.chunks.filter(kind=ChunkKind.READ, index__in=[s for s, _p in parts])}
    queries = np.concatenate([_arrays(sources[source], "pixels")["pixels"][positions] for source, positions in parts])
    groups = query_groups = None
    if chunk.query["which"] == "baseline" and chunk.role == SetRole.REFERENCE:  # leave-one-out
        groups = duplicate_groups([str(d) for _c, _p, digests in references for d in digests])
        # each query's row among the reference's usable images: its group excludes it and its duplicates
        first = {c.index: (int(offset), found) for (c, found, _d), offset in zip(references, offsets, strict=False)}
        query_groups = np.concatenate(
            [groups[first[source][0] + np.searchsorted(first[source][1], positions)] for source, positions in parts]
        )

    def blocks() -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        for (ref_chunk, ref_positions, _d), offset in zip(references, offsets, strict=False):
            if heartbeat is not None:
                heartbeat()
            pixels = _arrays(ref_chunk, "pixels")["pixels"][ref_positions]
            yield int(offset), pixels, None if groups is None else groups[offset : offset + len(ref_positions)]

    def pixels_of(rows: np.ndarray) -> np.ndarray:
        parts = []
        for (ref_chunk, ref_positions, _d), offset in zip(references, offsets, strict=False):
            mine = rows[(rows >= offset) & (rows < offset + len(ref_positions))] - offset
            if mine.size:
                parts.append(_arrays(ref_chunk, "pixels")["pixels"][ref_positions[mine]])
        size = queries.shape[-1]
        return np.concatenate(parts) if parts else np.zeros((0, size, size), np.float32)

    scores = search_block(queries, blocks(), pixels_of, p, query_groups=query_groups, heartbeat=heartbeat)
    buffer = io.BytesIO()
    arrays: dict[str, Any] = scores.arrays()
    np.savez(buffer, **arrays)
    return write_atomic(_artifact_name(run.pk, chunk.index, run.attempts, "search"), buffer.getvalue())


def search_scores(run: AuditRun) -> dict[str, Any] | None:
    """The memorization audit's per-image scores from the search chunks; None for a run without them."""
    from audits.engine.memorization import BlockScores, combine_scores

    blocks: dict[str, list[Any]] = {"synthetic": [], "baseline": []}
    searches = list(run.chunks.filter(kind=ChunkKind.SEARCH).order_by("index"))
    if not searches:
        return None
    for chunk in searches:
        with local_path(chunk.artifact) as path, np.load(path) as data:
            blocks[chunk.query["which"]].append(BlockScores.from_arrays(data))
    transforms = _memorization_params(run)["search_transforms"]
    return {which: combine_scores(found, transforms) for which, found in blocks.items()}


def fidelity_summaries(run: AuditRun) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The synthetic and reference sets' fidelity summaries joined from their read chunks; None when
    a set is missing or an artifact has none.

    The per-image KS samples and histogram entries (`fidelity.STORED_KEYS`, about 3 KiB per image)
    stay in the artifacts and are read a chunk at a time when the audit uses them; the rest is a
    few numbers per image."""
    from audits.engine import fidelity

    joined = []
    for role in (SetRole.SYNTHETIC, SetRole.REFERENCE):
        parts = []
        for chunk in _read_chunks(run).filter(role=role):
            with local_path(chunk.artifact) as path, np.load(path, allow_pickle=True) as data:
                keys = [key[len(FIDELITY_PREFIX) :] for key in data.files if key.startswith(FIDELITY_PREFIX)]
                found: dict[str, Any] = {
                    key: data[f"{FIDELITY_PREFIX}{key}"] for key in keys if key not in fidelity.STORED_KEYS
                }
            if not found:
                return None
            for key in set(keys) & set(fidelity.STORED_KEYS):
                found[key] = fidelity.stored_part(found, key, _member_loader(chunk, f"{FIDELITY_PREFIX}{key}"))
            parts.append(found)
        if not parts:
            return None
        joined.append(fidelity.concat_summaries(parts))
    return joined[0], joined[1]


def _member_loader(chunk: AuditChunk, key: str) -> Callable[[], np.ndarray]:
    artifact = chunk.artifact

    def load() -> np.ndarray:
        with local_path(artifact) as path, np.load(path, allow_pickle=True) as data:
            return data[key]

    return load


def load_engine_sets(run: AuditRun, params: Preprocessing, *, pixels: bool = True) -> dict[str, EngineSet]:
    """Rebuild the engine's image sets from the chunk artifacts and the file rows.

    Without `pixels`, each image's pixels are a read-only zero array of the right shape that
    takes no memory (labels, digests and blank flags are real): what the plan and the audits
    that read no pixels need.
    """
    from audits.engine.inputs import metadata_from_headers, parse_metadata_csv, parse_value_map

    sets: dict[str, EngineSet] = {}
    artifacts: dict[str, list[dict[str, Any]]] = {}
    read_errors: dict[int, str] = {}
    keys = ["digests", "files", "indexes", "blanks", "errors"]
    if pixels:
        keys += ["pixels", "native", "units"]
    no_pixels = np.broadcast_to(np.zeros((), np.float32), (params.size, params.size))
    for chunk in _read_chunks(run):
        with local_path(chunk.artifact) as path, np.load(path, allow_pickle=True) as data:
            found = {key: data[key] for key in keys if key in data.files}
            if "pixels" not in found:
                found["pixels"] = [no_pixels] * len(found["digests"])
            artifacts.setdefault(chunk.role, []).append(found)
            # A file accepted at upload can still fail in the worker (its memory limit).
            read_errors.update({int(k): v for k, v in json.loads(str(data["errors"])).items()})
    for image_set in run.sets.all():
        # not through image_set.files: the related manager would read each row's deferred image_set_id
        rows = ImageFile.objects.filter(image_set_id=image_set.pk).order_by("name").only(*_RECORD_FIELDS)
        records = _file_records(rows.iterator(chunk_size=2000), read_errors)
        names = {record.name: record.name for record in records}  # each image names its file's own string
        images: list[Image] = []
        for data in artifacts.get(image_set.role, []):
            for i in range(len(data["digests"])):
                name = str(data["files"][i])
                images.append(
                    Image(
                        file=names.get(name, name),
                        index=int(data["indexes"][i]),
                        pixels=data["pixels"][i],
                        pixel_sha256=str(data["digests"][i]),
                        blank=bool(data["blanks"][i]),
                        **_native_of(data, i),
                    )
                )
        metadata: dict[str, dict[str, str]] = {}
        if image_set.metadata_csv:
            metadata, _warnings = parse_metadata_csv(image_set.metadata_csv)
        value_map = parse_value_map(image_set.value_map_text) if image_set.value_map_text else {}
        engine_set = EngineSet(
            role=image_set.role, files=records, images=images, metadata=metadata, value_map=value_map
        )
        # CSV values win; DICOM headers fill only what the CSV lacks (whatever its column spelling).
        engine_set.metadata = metadata_from_headers(engine_set)
        sets[image_set.role] = engine_set
    return sets


def _native_of(data: dict[str, Any], i: int) -> dict[str, Any]:
    """An image's values in its file's units from a chunk artifact; none from an artifact written before
    they were kept (or NaN in their place), so the fidelity audit falls back to relative intensities."""
    if "native" not in data or not np.isfinite(data["native"][i]).all():
        return {}
    return {"native": data["native"][i], "unit": str(data["units"][i])}


def chunk_features(run: AuditRun, role: str) -> np.ndarray:
    parts = []
    for chunk in _read_chunks(run).filter(role=role):
        parts.append(_arrays(chunk, "features")["features"])
    return np.concatenate(parts) if parts else np.zeros((0, 35))


def run_merge(*, run: AuditRun) -> dict[str, Any]:
    """Run the suite over the chunks' arrays and return the results as JSON-safe dicts."""
    from audits.engine.inputs import parse_manifest
    from audits.engine.suite import run_suite

    preprocessing = Preprocessing(**run.params.get("preprocess", {}))
    scores = search_scores(run)
    summaries = fidelity_summaries(run)
    # Pixels only where an audit still needs them: a run without search chunks or summaries
    # (computed before they existed, or by a test that skips the stage).
    sets = load_engine_sets(run, preprocessing, pixels=scores is None or summaries is None)

    def with_pixels() -> tuple[EngineSet, EngineSet]:
        full = load_engine_sets(run, preprocessing)
        return full[SetRole.SYNTHETIC], full[SetRole.REFERENCE]

    synthetic_row = run.sets.filter(role=SetRole.SYNTHETIC).first()
    manifest = None
    if synthetic_row is not None and synthetic_row.manifest_text:
        manifest = parse_manifest(synthetic_row.manifest_text, synthetic_row.manifest_name)
    features = None
    if SetRole.SYNTHETIC in sets and SetRole.REFERENCE in sets:
        features = (chunk_features(run, SetRole.SYNTHETIC), chunk_features(run, SetRole.REFERENCE))

    def progress(name: str, position: int) -> None:
        # before each audit: a merge whose run was re-queued or ended stops instead of computing for nobody
        if not run_heartbeat(run=run, progress=80 + 3 * position, message=f"Computing the {name} audit"):
            raise RunLost(f"audit run {run.pk} is no longer held by attempt {run.attempts}")

    results = run_suite(
        synthetic=sets.get(SetRole.SYNTHETIC),
        reference=sets.get(SetRole.REFERENCE),
        holdout=sets.get(SetRole.HOLDOUT),
        manifest=manifest,
        params=run.params.get("audits", {}),
        features=features,
        progress=progress,
        memorization_scores=scores,
        fidelity_summaries=summaries,
        fidelity_images=with_pixels,
    )
    # Files accepted at upload that the worker could not read (its memory limit, say).
    accepted_at_upload = set(
        ImageFile.objects.filter(image_set__in=run.sets.all(), error="").values_list("name", flat=True)
    )
    unread = [
        f"{record.name} ({engine_set.role} set) could not be read by the worker: {record.error}"
        for engine_set in sets.values()
        for record in engine_set.files
        if record.error and record.name in accepted_at_upload
    ]
    for result in results.values():
        result.caveats.extend(unread)
    return {name: result.as_dict() for name, result in results.items()}


@transaction.atomic
def run_succeed(*, run: AuditRun, results: dict[str, Any]) -> bool:
    """Write the one result: only the attempt that still holds the run can."""
    updated = _running(run.pk, run.attempts).update(
        status=RunStatus.SUCCEEDED,
        results=results,
        finished_at=timezone.now(),
        progress=100,
        progress_message="Finished",
        lease_until=None,
    )
    if updated == 1:
        statuses = {name: result["status"] for name, result in results.items()}
        activity_record(
            actor=None, action=Action.CHANGE, obj=run, project=run.project, new={"status": "succeeded", **statuses}
        )
        event_emit(
            event=EventKind.AUDIT_RUN_FINISHED,
            project=run.project,
            data={"run_id": run.pk, "status": RunStatus.SUCCEEDED, "verdicts": _verdicts(results)},
        )
        _delete_artifacts(run)
    return updated == 1


@transaction.atomic
def run_fail(*, run_id: int, reason: str, attempt: int | None = None) -> bool:
    """End a run as failed with its reason, unless it already ended."""
    queryset = AuditRun.objects.filter(pk=run_id).exclude(status__in=FINAL_RUN_STATUSES)
    if attempt is not None:  # a worker's failure counts only while its attempt holds the run
        queryset = queryset.filter(attempts=attempt, status=RunStatus.RUNNING)
    updated = queryset.update(
        status=RunStatus.FAILED, error=reason[:2000] or "failed", finished_at=timezone.now(), lease_until=None
    )
    if updated == 1:
        run = AuditRun.objects.select_related("project").get(pk=run_id)
        activity_record(
            actor=None,
            action=Action.CHANGE,
            obj=run,
            project=run.project,
            new={"status": "failed", "error": reason[:500]},
        )
        event_emit(
            event=EventKind.AUDIT_RUN_FINISHED,
            project=run.project,
            data={"run_id": run.pk, "status": RunStatus.FAILED, "verdicts": {}},
        )
        _delete_artifacts(run)
    return updated == 1


def _run_prefix(run_id: int) -> str:
    """The folder of every file a run's attempts write (`_artifact_name`)."""
    return f"runs/{run_id}/"


def _delete_artifacts(run: AuditRun) -> None:
    """After commit, delete the run's whole folder: the chunk rows' files and those of attempts
    whose worker was lost before it recorded them. Best effort: the run's end is committed, so a
    storage error is logged, never raised into the request or task that ended it."""
    prefix = _run_prefix(run.pk)

    def delete() -> None:
        try:
            delete_prefix(prefix)
        except Exception:  # a committed end stays one; the files are left to the storage sweep
            log.exception("could not delete the files of audit run %s under %s; the storage sweep will", run.pk, prefix)

    transaction.on_commit(delete)


def reconcile_runs() -> dict[str, int]:
    """Re-queue runs whose worker vanished (lease expired) and resend lost queued messages.

    A run that has used its attempts fails with the reason. Called by celery beat.
    """
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "resent": 0}
    for run in AuditRun.objects.filter(status=RunStatus.RUNNING, lease_until__lt=now):
        if run.attempts >= settings.AUDIT_MAX_ATTEMPTS:
            reason = f"The worker was lost {run.attempts} times (lease expired); giving up."
            counts["failed"] += run_fail(run_id=run.pk, reason=reason, attempt=run.attempts)
            continue
        with transaction.atomic():
            # lease_until__lt again: a heartbeat committed since the select keeps the run.
            requeued = (
                _running(run.pk, run.attempts)
                .filter(lease_until__lt=now)
                .update(
                    status=RunStatus.QUEUED,
                    search_sent=False,
                    merge_sent=False,
                    lease_until=_resend_at(),
                    progress_message="Re-queued: worker lost",
                )
            )
            if requeued:
                _send("audits.start_run", run_id=run.pk)
                counts["requeued"] += 1
    # A queued run whose message may have been lost (a broker restarted without persistence):
    # send it again, at most once per AUDIT_QUEUED_RESEND_SECONDS; the claim makes extra copies harmless.
    for run_id in AuditRun.objects.filter(status=RunStatus.QUEUED, lease_until__lt=now).values_list("pk", flat=True):
        if AuditRun.objects.filter(pk=run_id, status=RunStatus.QUEUED, lease_until__lt=now).update(
            lease_until=_resend_at(), progress_message="Waiting for a worker"
        ):
            _send("audits.start_run", run_id=run_id)
            counts["resent"] += 1
    return counts
