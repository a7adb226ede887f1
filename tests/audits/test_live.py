"""The audit path with a real Celery worker: Redis in CI, kombu's filesystem broker otherwise.

Workers are separate processes started here (their own process group, so a test can kill
them whole), on the same test database and private storage as the test.
"""

from __future__ import annotations

import io
import os
import re
import signal
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits.enums import RunStatus, SetRole, SetStatus
from audits.models import AuditRun, ImageFile, ImageSet
from audits.services.uploads import image_set_upload
from reviews.models import ActivityEntry
from tests.audits.images import dicom_source, example4d, to_uint16, write_nifti, write_png
from tests.factories import ProjectFactory, ResearcherFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _png(array: np.ndarray, name: str, label: bool = True) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    path = Path(settings.PRIVATE_STORAGE_ROOT) / "fixtures" / name
    write_png(path, to_uint16(array), label="xmp" if label else None)
    buffer.write(path.read_bytes())
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def _zip(files: list[SimpleUploadedFile], name: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for upload in files:
            archive.writestr(upload.name, upload.read())
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def _project_with_sets(n_reference: int = 10, n_synthetic: int = 5):
    """Reference: real EPI slices; synthetic: one exact copy of a reference slice and novel slices."""
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner)
    volume = example4d()[..., 0]
    reference_slices = list(range(0, 2 * n_reference, 2))
    reference = [_png(volume[:, :, k], f"real-{k:02d}.png", label=False) for k in reference_slices]
    novel = [_png(volume[:, :, k], f"synthetic-{k:02d}.png") for k in range(3, 3 + 2 * (n_synthetic - 1), 2)]
    copy = _png(volume[:, :, reference_slices[3]], "synthetic-copy.png")
    image_set_upload(actor=owner, project=project, role=SetRole.REFERENCE, files=[_zip(reference, "real.zip")])
    image_set_upload(
        actor=owner, project=project, role=SetRole.SYNTHETIC, files=[_zip([*novel, copy], "synthetic.zip")]
    )
    _wait_ingested(project)
    return project


def _wait_ingested(project, timeout: float = 120) -> list[ImageSet]:
    """The worker reads the uploaded sets (audits.ingest_set); wait until none is ingesting."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sets = list(ImageSet.objects.filter(project=project).order_by("pk"))
        if sets and all(s.status != SetStatus.INGESTING for s in sets):
            return sets
        time.sleep(0.2)
    pytest.fail(f"sets still ingesting after {timeout} s: {list(ImageSet.objects.filter(project=project).values())}")


def _wait_final(project, timeout: float = 180) -> AuditRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = AuditRun.objects.filter(project=project).order_by("-pk").first()
        if run is not None and run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run
        time.sleep(0.5)
    pytest.fail(f"no final run after {timeout} s: {list(AuditRun.objects.filter(project=project).values())}")


def _succeeded_entries(run: AuditRun) -> int:
    return sum(
        1
        for entry in ActivityEntry.objects.filter(object_type="audits.auditrun", object_id=str(run.pk))
        if (entry.new or {}).get("status") == "succeeded"
    )


def _wait_until(condition: Callable[[], bool], failure: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(failure)
        time.sleep(0.1)


def _tasks_ended(log: Path, task: str) -> int:
    """How many of the worker's tasks by that name have ended, with success or an exception."""
    return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] (?:succeeded|raised)", log.read_text(errors="replace")))


def test_upload_run_result_and_chart_page_and_messages_delivered_twice_leave_one_result(start_worker, client, tmp_path):
    """One worker and one audited project for both promises (a worker start and a whole run cost
    seconds each): the path from upload to chart page, and duplicate deliveries of the start,
    merge and chunk messages leaving one run with one result."""
    from config.celery import app

    start_worker()
    project = _project_with_sets()
    for image_set in ImageSet.objects.filter(project=project):  # read by the worker, not by this process
        assert image_set.status == SetStatus.READY and image_set.is_current, image_set.message
        assert image_set.worker and not image_set.worker.endswith(f":{os.getpid()}") and image_set.attempts == 1
        assert image_set.n_read == image_set.n_files == image_set.n_accepted > 0
        staging = Path(settings.PRIVATE_STORAGE_ROOT) / "uploads" / str(image_set.pk)
        deadline = time.monotonic() + 10  # removed by the worker just after its commit
        while staging.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not staging.exists()
    run = AuditRun.objects.filter(project=project).order_by("-pk").first()
    for _ in range(3):  # duplicate deliveries of the start message
        app.send_task("audits.start_run", kwargs={"run_id": run.pk})
    run = _wait_final(project)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempts == 1
    assert set(run.results) == {"disclosure", "privacy", "memorization", "fidelity", "representation", "manifest"}
    memorization = run.results["memorization"]
    assert memorization["metrics"]["n_exact_duplicates"] == 1
    assert any(item["synthetic_file"] == "synthetic-copy.png" for item in memorization["flagged"])
    assert _succeeded_entries(run) == 1

    results = run.results
    log = tmp_path / "worker-0.log"  # start_worker's log of this test's worker
    _wait_until(lambda: _tasks_ended(log, "audits.merge_run") > 0, "the run's own merge is not in the log")
    ended = {task: _tasks_ended(log, task) for task in ("audits.merge_run", "audits.process_chunk")}
    app.send_task("audits.merge_run", kwargs={"run_id": run.pk, "attempt": 1})
    app.send_task("audits.process_chunk", kwargs={"run_id": run.pk, "attempt": 1, "index": 0})
    _wait_until(
        lambda: all(_tasks_ended(log, task) > count for task, count in ended.items()),
        "the duplicates were never handled",
    )
    run.refresh_from_db()
    assert run.results == results
    assert _succeeded_entries(run) == 1

    client.force_login(project.owner)
    page = client.get(f"/projects/{project.pk}/audits/runs/{run.pk}/memorization/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "synthetic-copy.png" in body and "plotly" in body


def test_a_worker_killed_mid_run_ends_with_exactly_one_result(start_worker):
    worker = start_worker(AUDIT_CHUNK_FILES="1", AUDIT_LEASE_SECONDS="6")
    project = _project_with_sets(n_reference=12, n_synthetic=8)
    run = AuditRun.objects.filter(project=project).order_by("-pk").first()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status == RunStatus.RUNNING and run.chunks.filter(done=True).exists():
            break
        time.sleep(0.05)
    assert run.status == RunStatus.RUNNING, f"the run never started: {run.status}"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = timezone.now()
    start_worker(AUDIT_CHUNK_FILES="1", AUDIT_LEASE_SECONDS="6")
    final = _wait_final(project)
    assert final.pk == run.pk
    assert final.status == RunStatus.SUCCEEDED, final.error
    # Recovered either by redelivery of the killed worker's unacknowledged tasks (Redis) or
    # by the reconciler re-queueing the run once its lease expired (attempt 2).
    assert final.finished_at > killed_at
    assert final.results["memorization"]["metrics"]["n_exact_duplicates"] == 1
    assert _succeeded_entries(final) == 1


def test_a_run_over_its_time_limit_fails_with_the_reason_and_the_worker_lives_on(start_worker, tmp_path):
    from config.celery import app

    worker = start_worker(AUDIT_TASK_TIME_LIMIT="1")
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner)
    # One real EPI series repeated to 960 slices: reading it takes far longer than 1 s.
    long_series = np.tile(example4d(), (1, 1, 1, 20))
    volume = write_nifti(tmp_path / "long-series.nii.gz", data=long_series)
    upload = SimpleUploadedFile("long-series.nii.gz", volume.read_bytes())
    # Read by the worker, the ingest itself runs into the limit (1,200 real CT files take seconds to
    # extract and check; 600 were once all read within the second): the set fails and says where,
    # the file being read if it was past the extraction.
    ct = Path(dicom_source("CT_small.dcm")).read_bytes()
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for index in range(1200):
            archive.writestr(f"ct-{index:04d}.dcm", ct)
    image_set_upload(
        actor=owner, project=project, role=SetRole.SYNTHETIC, files=[SimpleUploadedFile("ct.zip", many.getvalue())]
    )
    (failed,) = _wait_ingested(project)
    assert failed.status == SetStatus.FAILED and not failed.is_current
    assert failed.message.startswith("Reading the files took longer than the limit of 1 s per set")
    assert "while reading" not in failed.message or "while reading “ct-" in failed.message
    assert not failed.files.exists()
    assert not AuditRun.objects.filter(project=project).exists()
    # Read here instead, the run's steps run into it.
    image_set_upload(actor=owner, project=project, role=SetRole.SYNTHETIC, files=[upload], ingest_now=True)

    run = _wait_final(project)
    assert run.status == RunStatus.FAILED
    assert run.error == "The run exceeded its time limit of 1 s per step."
    assert run.results is None
    assert worker.poll() is None
    replies: list[dict] = []
    for _ in range(5):  # a broadcast reply can be missed once; the worker must answer one of them
        replies = app.control.ping(timeout=3.0)
        if replies:
            break
    assert any(name.startswith("live0@") for reply in replies for name in reply), replies


def test_a_file_over_the_memory_limit_is_reported_and_the_worker_lives_on(start_worker, tmp_path):
    """The worker's pool processes have a capped address space; a file that needs more is
    rejected with that reason, the rest of the set is audited, and the worker goes on."""
    # A pool process is about 390 MB of address space once the engine is imported (measured
    # here); 800 MB leaves the small files room and cannot hold the series below. The declared
    # size budget (512 MiB by default) would refuse it before reading: raised here.
    worker = start_worker(AUDIT_MEMORY_LIMIT_MB="800", IMAGE_MAX_DECLARED_MB="2048")
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner)
    # A real EPI volume tiled to 1024 x 768 x 360 (566 MB of int16; small once gzipped):
    # plausible, so the upload stores it; the worker that reads it cannot hold it.
    volume = write_nifti(tmp_path / "huge.nii.gz", data=np.tile(example4d()[..., 0], (8, 8, 1)), z_repeats=15)
    slices = [_png(example4d()[:, :, k, 0], f"synthetic-{k:02d}.png") for k in (3, 5, 7)]
    upload = SimpleUploadedFile("huge.nii.gz", volume.read_bytes())
    image_set_upload(actor=owner, project=project, role=SetRole.SYNTHETIC, files=[upload, *slices])

    (image_set,) = _wait_ingested(project)
    assert image_set.status == SetStatus.READY and (image_set.n_accepted, image_set.n_rejected) == (3, 1)
    huge_file = ImageFile.objects.get(name="huge.nii.gz")
    assert huge_file.error == "file needs more memory to decode than is available" and not huge_file.stored
    run = _wait_final(project)
    assert run.status == RunStatus.SUCCEEDED, run.error
    inputs = run.results["disclosure"]["inputs"]
    assert (inputs["n_synthetic_accepted"], inputs["n_synthetic_rejected"]) == (3, 1)  # refused by the worker
    assert run.results["disclosure"]["metrics"]["n_files"] == 3
    assert worker.poll() is None
