"""What a run's workers do when a message comes twice, a worker is lost, the run leaves them, or the
object store is down (issue 13 review): a redelivered chunk sends nothing again, a lost attempt's
files go with the run, a step whose run was re-queued stops quietly, an outage is retried."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits import tasks
from audits.enums import ChunkKind, RunStatus
from audits.models import AuditChunk, AuditRun
from audits.services import runs
from config.storage import private_storage, write_atomic
from tests.audits.test_runs_search import _flags, _run

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The celery messages the services send (task name, arguments), instead of sending them."""
    found: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(runs, "send_after_commit", lambda task, kwargs, **_: found.append((task, kwargs)))
    return found


def _requeue(run: AuditRun) -> AuditRun:
    """The reconciler finds the run's lease expired and re-queues it; another worker claims it."""
    AuditRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert runs.reconcile_runs()["requeued"] == 1
    again = runs.run_claim(run_id=run.pk)
    assert again is not None and again.attempts == run.attempts + 1
    return again


@override_settings(AUDIT_CHUNK_FILES=1)
def test_a_redelivered_read_chunk_sends_nothing_again_and_keeps_the_progress(project, researcher, tmp_path, sent):
    run = _run(project, researcher, tmp_path)
    runs.run_plan_search(run=run)
    run.refresh_from_db()
    progress = (run.progress, run.progress_message)
    assert progress == (50, "Searching the images for copies")
    sent.clear()

    read = AuditChunk.objects.filter(run=run, kind=ChunkKind.READ).order_by("index").first()
    assert read is not None and read.done
    tasks.process_chunk(run_id=run.pk, attempt=run.attempts, index=read.index)  # the broker delivers it again
    assert runs.chunk_complete(run=run, index=read.index, artifact=read.artifact) is False
    assert sent == []  # no search block is sent a second time
    run.refresh_from_db()
    assert (run.progress, run.progress_message) == progress  # not back to "Read 4 of 4 chunks"
    assert private_storage().exists(read.artifact)  # its file is still the chunk's


@override_settings(AUDIT_CHUNK_FILES=1)
def test_a_worker_lost_after_the_last_read_chunk_resumes_with_the_search_plan(project, researcher, tmp_path, sent):
    run = _run(project, researcher, tmp_path)  # the plan's message was sent after commit, and lost
    assert _flags(run) == (True, False)
    sent.clear()
    again = _requeue(run)
    assert runs.run_plan_chunks(run=again) == []
    assert sent[-1] == ("audits.plan_search", {"run_id": run.pk, "attempt": 2})


@override_settings(AUDIT_CHUNK_FILES=1)
@pytest.mark.parametrize("end", ["succeed", "fail", "cancel"])
def test_the_files_of_a_lost_attempt_are_deleted_with_the_run(
    project, researcher, tmp_path, end, django_capture_on_commit_callbacks
):
    run = _run(project, researcher, tmp_path)
    recorded = [c.artifact for c in AuditChunk.objects.filter(run=run)]
    lost = write_atomic(f"runs/{run.pk}/chunk-0-a9.npz", b"a worker lost before it recorded this")
    neighbour = write_atomic(f"runs/{run.pk}0/chunk-0-a1.npz", b"another run's")
    with django_capture_on_commit_callbacks(execute=True):
        if end == "succeed":
            assert runs.run_succeed(run=run, results={})
        elif end == "fail":
            assert runs.run_fail(run_id=run.pk, reason="test")
        else:  # a re-queued run superseded by new inputs before a worker took it again
            AuditRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED)
            runs._cancel_superseded(project=project, actor=researcher)
    storage = private_storage()
    assert not storage.exists(lost)
    assert not any(storage.exists(name) for name in recorded)
    assert storage.exists(neighbour)  # runs/12/ is not runs/120/
    storage.delete(neighbour)


def test_a_storage_error_while_deleting_leaves_the_run_finished(
    project, researcher, tmp_path, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    run = _run(project, researcher, tmp_path)

    def unavailable(prefix: str) -> None:
        raise EndpointConnectionError(endpoint_url="http://objects.invalid")

    monkeypatch.setattr(runs, "delete_prefix", unavailable)
    with django_capture_on_commit_callbacks(execute=True):
        assert runs.run_succeed(run=run, results={})
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert f"could not delete the files of audit run {run.pk}" in caplog.text


@override_settings(AUDIT_CHUNK_FILES=10)
def test_a_read_chunk_stops_quietly_once_its_run_was_requeued(project, researcher, tmp_path, monkeypatch):
    run = _run(project, researcher, tmp_path)
    chunk = AuditChunk.objects.filter(run=run, kind=ChunkKind.READ).order_by("index").first()
    assert chunk is not None and len(chunk.file_ids) > 1
    AuditChunk.objects.filter(pk=chunk.pk).update(done=False, artifact="")
    monkeypatch.setattr(runs, "HEARTBEAT_SECONDS", -1)  # a heartbeat before every file
    keep = runs.run_keep_lease
    requeued: list[AuditRun] = []

    def lost_meanwhile(*, run: AuditRun) -> bool:
        if not requeued:  # the reconciler re-queued the run while this worker was reading
            requeued.append(_requeue(run))
        return keep(run=run)

    monkeypatch.setattr(runs, "run_keep_lease", lost_meanwhile)
    reads: list[str] = []
    local_path = runs.local_path
    monkeypatch.setattr(runs, "local_path", lambda name: reads.append(name) or local_path(name))

    tasks.process_chunk(run_id=run.pk, attempt=1, index=chunk.index)
    assert reads == []  # stopped at its first heartbeat, not after reading every file for nobody
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == (RunStatus.RUNNING, 2, "")  # the new attempt's, not failed
    assert not AuditChunk.objects.get(pk=chunk.pk).done
    assert not private_storage().exists(f"runs/{run.pk}/chunk-{chunk.index}-a1.npz")


@override_settings(AUDIT_CHUNK_FILES=1)
def test_a_search_block_stops_quietly_once_its_run_failed(project, researcher, tmp_path, monkeypatch):
    run = _run(project, researcher, tmp_path)
    runs.run_plan_search(run=run)
    block = AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH).order_by("index").first()
    assert block is not None
    keep = runs.run_keep_lease

    def failed_meanwhile(*, run: AuditRun) -> bool:
        runs.run_fail(run_id=run.pk, reason="cancelled by the test")
        return keep(run=run)

    monkeypatch.setattr(runs, "run_keep_lease", failed_meanwhile)
    tasks.process_chunk(run_id=run.pk, attempt=1, index=block.index)
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.FAILED, "cancelled by the test")  # its own reason kept
    assert not AuditChunk.objects.get(pk=block.pk).done
    assert not private_storage().exists(f"runs/{run.pk}/search-{block.index}-a1.npz")


@pytest.mark.postgres
@override_settings(AUDIT_CHUNK_FILES=1)
def test_the_search_plan_reads_the_artifacts_before_it_locks_the_run(project, researcher, tmp_path, sent):
    run = _run(project, researcher, tmp_path)
    sent.clear()
    beats: list[bool] = []
    with CaptureQueriesContext(connection) as queries:

        def heartbeat() -> None:  # while the blocks are computed, nothing holds the run's row
            beats.append(any("FOR NO KEY UPDATE" in q["sql"] for q in queries.captured_queries))
            runs.run_keep_lease(run=run)

        planned = runs.run_plan_search(run=run, heartbeat=heartbeat)
        locks = [q["sql"] for q in queries.captured_queries if "FOR NO KEY UPDATE" in q["sql"]]
    assert planned and beats and not any(beats)
    assert len(locks) == 1  # then one lock, to check the attempt and insert the blocks
    assert [task for task, _ in sent].count("audits.process_chunk") == len(planned)


@override_settings(AUDIT_CHUNK_FILES=1)
def test_a_search_plan_whose_run_was_requeued_meanwhile_inserts_nothing(project, researcher, tmp_path, monkeypatch):
    run = _run(project, researcher, tmp_path)
    keep = runs.run_keep_lease
    requeued: list[AuditRun] = []

    def lost_meanwhile(*, run: AuditRun) -> bool:
        if not requeued:
            requeued.append(_requeue(run))
        return keep(run=run)

    monkeypatch.setattr(runs, "run_keep_lease", lost_meanwhile)
    tasks.plan_search(run_id=run.pk, attempt=1)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == (RunStatus.RUNNING, 2, "")
    assert not AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH).exists()


@override_settings(AUDIT_CHUNK_FILES=1)
@pytest.mark.parametrize(
    "outage",
    [
        EndpointConnectionError(endpoint_url="http://objects.invalid"),
        ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject"),
    ],
    ids=["unreachable", "503"],
)
def test_an_object_store_outage_is_retried_and_does_not_fail_the_run(
    project, researcher, tmp_path, monkeypatch, outage
):
    run = _run(project, researcher, tmp_path)
    chunk = AuditChunk.objects.filter(run=run, kind=ChunkKind.READ).order_by("index").first()
    assert chunk is not None
    AuditChunk.objects.filter(pk=chunk.pk).update(done=False, artifact="")

    def down(**kwargs: Any) -> str:
        raise outage

    monkeypatch.setattr(runs, "chunk_compute", down)
    # Called directly, celery's autoretry re-raises what it would retry on; a failure would return.
    with pytest.raises((tasks.StorageOutage, EndpointConnectionError)):
        tasks.process_chunk(run_id=run.pk, attempt=1, index=chunk.index)
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.RUNNING, "")


def test_a_missing_object_still_fails_the_run_with_its_reason(project, researcher, tmp_path, monkeypatch):
    run = _run(project, researcher, tmp_path)
    chunk = AuditChunk.objects.filter(run=run, kind=ChunkKind.READ).order_by("index").first()
    assert chunk is not None
    AuditChunk.objects.filter(pk=chunk.pk).update(done=False, artifact="")

    def missing(**kwargs: Any) -> str:
        raise ClientError({"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetObject")

    monkeypatch.setattr(runs, "chunk_compute", missing)
    tasks.process_chunk(run_id=run.pk, attempt=1, index=chunk.index)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "NoSuchKey" in run.error


@override_settings(AUDIT_CHUNK_FILES=1)
def test_a_merge_stops_at_the_next_audit_once_its_run_was_requeued(project, researcher, tmp_path, monkeypatch):
    run = _run(project, researcher, tmp_path)
    runs.run_plan_search(run=run)
    for block in AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH).order_by("index"):
        assert runs.chunk_complete(run=run, index=block.index, artifact=runs.search_compute(chunk=block, run=run))
    assert _flags(run) == (True, True)
    heartbeat = runs.run_heartbeat
    announced: list[str] = []

    def requeued_meanwhile(*, run: AuditRun, progress: int, message: str) -> bool:
        announced.append(message)
        held = heartbeat(run=run, progress=progress, message=message)
        if len(announced) == 1:  # the reconciler re-queues the run while the first audit is computed
            _requeue(run)
        return held

    monkeypatch.setattr(runs, "run_heartbeat", requeued_meanwhile)
    tasks.merge_run(run_id=run.pk, attempt=1)
    # the first audit's announcement still held the run; the second found it gone and the merge stopped
    assert len(announced) == 2
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error, run.results) == (RunStatus.RUNNING, 2, "", None)
