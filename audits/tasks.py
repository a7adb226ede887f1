"""Celery tasks: thin adapters that take ids, load rows and call one service each.

Safe to run twice: every service they call is a compare-and-set on the run's status and
attempt. Transient errors (database or storage unavailable) are retried with capped
exponential backoff; anything else ends the run as failed with its reason.
"""

from __future__ import annotations

import logging
import resource
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError
from threadpoolctl import threadpool_limits

from audits.engine.preprocess import Preprocessing
from audits.engine.readers import common as reader_common
from audits.enums import ChunkKind, RunStatus
from audits.models import AuditChunk, AuditRun
from audits.services import ingest, runs
from config.storage import STORAGE_UNAVAILABLE, storage_unavailable, sweep_all

log = logging.getLogger(__name__)

# A step over its soft time limit must end the step, not be reported as a corrupt file.
reader_common.PASS_THROUGH.append(SoftTimeLimitExceeded)


class StorageOutage(Exception):
    """The object store answered that it is down or overloaded (config.storage.storage_unavailable):
    the step is retried with backoff, and the run is not failed for it."""


TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    StorageOutage,
    *STORAGE_UNAVAILABLE,
)
_RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}
_LIMITS = {"soft_time_limit": settings.AUDIT_TASK_TIME_LIMIT, "time_limit": settings.AUDIT_TASK_TIME_LIMIT + 60}


@worker_process_init.connect
def _limit_resources(**kwargs: Any) -> None:
    """One BLAS thread per pool process (several processes share the cores; more threads only
    oversubscribe them), and a cap on each process's address space: an oversized run raises
    MemoryError and fails cleanly, and the worker lives on."""
    import scipy.linalg  # noqa: F401 (load scipy's own BLAS first, so that the limit reaches it too)

    threadpool_limits(1)
    limit = settings.AUDIT_MEMORY_LIMIT_MB * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _fail_for(run_id: int, attempt: int | None, exc: BaseException) -> None:
    """End the run as failed with the reason of `exc`; raise StorageOutage instead when `exc` says the
    object store is unavailable (an error answer of 500 or more, or one wrapping a lost connection),
    so that the step is retried like any other transient error."""
    if storage_unavailable(exc):
        raise StorageOutage(f"the object store is unavailable: {type(exc).__name__}: {exc}") from exc
    if isinstance(exc, SoftTimeLimitExceeded):
        reason = f"The run exceeded its time limit of {settings.AUDIT_TASK_TIME_LIMIT} s per step."
    elif isinstance(exc, MemoryError):
        reason = f"The run exceeded its memory limit of {settings.AUDIT_MEMORY_LIMIT_MB} MB."
    else:
        reason = f"The run failed: {type(exc).__name__}: {exc}"
    log.exception("audit run %s failed", run_id)
    runs.run_fail(run_id=run_id, reason=reason, attempt=attempt)


@shared_task(name="audits.start_run", **_RETRY)
def start_run(*, run_id: int) -> None:
    run = runs.run_claim(run_id=run_id)
    if run is None:  # delivered twice, already running elsewhere, or finished
        return
    runs.run_plan_chunks(run=run)


@shared_task(name="audits.process_chunk", **_RETRY, **_LIMITS)
def process_chunk(*, run_id: int, attempt: int, index: int) -> None:
    run = AuditRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, attempts=attempt).first()
    chunk = AuditChunk.objects.filter(run_id=run_id, index=index).first()
    if run is None or chunk is None:
        return
    if chunk.done:  # a redelivered message: the chunk's completion already advanced the run
        return
    heartbeat = runs.run_lease_keeper(run)
    try:
        if chunk.kind == ChunkKind.SEARCH:
            artifact = runs.search_compute(chunk=chunk, run=run, heartbeat=heartbeat)
        else:
            artifact = runs.chunk_compute(
                chunk=chunk,
                params=Preprocessing(**run.params.get("preprocess", {})),
                heartbeat=heartbeat,
                attempt=attempt,
            )
    except runs.RunLost:  # the run ended or was re-queued: this attempt's work is nobody's
        log.info("audit run %s: attempt %s stopped chunk %s, the run is no longer its", run_id, attempt, index)
        return
    except TRANSIENT:
        raise
    except Exception as exc:  # noqa: BLE001 (any other failure ends the run, with its reason)
        _fail_for(run_id, attempt, exc)
        return
    runs.chunk_complete(run=run, index=index, artifact=artifact)


@shared_task(name="audits.plan_search", **_RETRY, **_LIMITS)
def plan_search(*, run_id: int, attempt: int) -> None:
    """Plan the copy search into search chunks once every read chunk is done (runs.run_plan_search)."""
    run = AuditRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, attempts=attempt).first()
    if run is None:
        return
    try:
        runs.run_plan_search(run=run, heartbeat=runs.run_lease_keeper(run))
    except runs.RunLost:  # the run ended or was re-queued while the blocks were computed
        return
    except TRANSIENT:
        raise
    except Exception as exc:  # noqa: BLE001 (any other failure ends the run, with its reason)
        _fail_for(run_id, attempt, exc)


@shared_task(name="audits.merge_run", **_RETRY, **_LIMITS)
def merge_run(*, run_id: int, attempt: int) -> None:
    run = (
        AuditRun.objects.select_related("project").filter(pk=run_id, status=RunStatus.RUNNING, attempts=attempt).first()
    )
    if run is None:
        return
    try:
        results = runs.run_merge(run=run)
    except runs.RunLost:  # the run ended or was re-queued while the audits were computed
        log.info("audit run %s: attempt %s stopped its merge, the run is no longer its", run_id, attempt)
        return
    except TRANSIENT:
        raise
    except Exception as exc:  # noqa: BLE001 (any other failure ends the run, with its reason)
        _fail_for(run_id, attempt, exc)
        return
    runs.run_succeed(run=run, results=results)


@shared_task(name="audits.sweep_storage", **_RETRY, **_LIMITS)
def sweep_storage() -> dict[str, int]:
    """Beat, daily: delete the private files no row needs any more (config.storage.sweep_all)."""
    return sweep_all(older_than=settings.PRIVATE_SWEEP_GRACE_HOURS * 3600)


@shared_task(name="audits.reconcile_runs", **_RETRY)
def reconcile_runs() -> dict[str, int]:
    return runs.reconcile_runs()


@shared_task(name="audits.ingest_set", **_RETRY, **_LIMITS)
def ingest_set(*, image_set_id: int) -> None:
    """Extract, validate and read an uploaded set; make it current (audits.services.ingest)."""
    ingest.image_set_ingest(image_set_id=image_set_id)


@shared_task(name="audits.reconcile_ingests", **_RETRY)
def reconcile_ingests() -> dict[str, int]:
    return ingest.reconcile_ingests()
