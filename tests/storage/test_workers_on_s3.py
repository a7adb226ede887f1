"""Workers on several hosts: real Celery workers that share nothing but the database, the broker and
the bucket. Each has its own empty PRIVATE_STORAGE_ROOT and PRIVATE_CACHE_DIR, so a file one of them
wrote can reach the other only through the object store.
"""

from __future__ import annotations

import io
import os
import re
import signal
import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits.enums import RunStatus, SetRole, SetStatus
from audits.models import AuditRun, ImageSet
from audits.services.uploads import image_set_upload
from tests.audits.images import example4d, to_uint16, write_png
from tests.audits.test_live import _succeeded_entries, _wait_final, _wait_ingested
from tests.factories import ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _zip(folder: Path, name: str, slices: dict[str, int]) -> SimpleUploadedFile:
    """Real EPI slices as labelled PNG files in one archive."""
    volume = example4d()[..., 0]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file_name, k in slices.items():
            archive.writestr(
                file_name, write_png(folder / file_name, to_uint16(volume[:, :, k]), label="xmp").read_bytes()
            )
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def _audited_project(folder: Path):
    """Reference: 8 real slices; synthetic: an exact copy of one of them and 4 novel slices."""
    folder.mkdir()
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner)
    reference = {f"real-{k:02d}.png": k for k in range(0, 16, 2)}
    synthetic = {f"synthetic-{k:02d}.png": k for k in (3, 5, 7, 9)} | {"synthetic-copy.png": 6}
    image_set_upload(actor=owner, project=project, role=SetRole.REFERENCE, files=[_zip(folder, "real.zip", reference)])
    image_set_upload(
        actor=owner, project=project, role=SetRole.SYNTHETIC, files=[_zip(folder, "synthetic.zip", synthetic)]
    )
    return project


def _wait_for_workers(names: list[str], timeout: float = 60) -> None:
    from config.celery import app

    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline and not all(any(s.startswith(n) for s in seen) for n in names):
        seen |= {name for reply in app.control.ping(timeout=1.0) for name in reply}
    assert all(any(s.startswith(n) for s in seen) for n in names), f"workers {names} never answered: {seen}"


def _chunks_done(log: Path) -> int:
    return len(re.findall(r"Task audits\.process_chunk\[[^\]]+\] succeeded", log.read_text(errors="replace")))


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def _group_of(worker: str) -> int | None:
    """The process group (the worker host, here) of the pool process named "host:pid", if it still runs."""
    try:
        return os.getpgid(int(worker.rsplit(":", 1)[1]))
    except (ValueError, IndexError, ProcessLookupError):
        return None


def test_two_workers_on_separate_disks_complete_a_run_exactly_once(s3, start_worker, tmp_path):
    hosts = [tmp_path / "host-a", tmp_path / "host-b"]
    for host in hosts:
        start_worker(AUDIT_CHUNK_FILES="1", **s3.worker_env(host))
    _wait_for_workers(["live0@", "live1@"])
    project = _audited_project(tmp_path / "fixtures")
    for image_set in _wait_ingested(project):  # read by a worker from the bucket, stored back there
        assert image_set.status == SetStatus.READY and image_set.is_current, image_set.message
    assert len(s3.keys("images/")) == 13

    run = _wait_final(project)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempts == 1 and _succeeded_entries(run) == 1
    # The two sets are read in parallel, so a first run may start over the first set alone;
    # whatever ran, each set of inputs has exactly one result.
    digests = list(
        AuditRun.objects.filter(project=project, status=RunStatus.SUCCEEDED).values_list("input_digest", flat=True)
    )
    assert len(digests) == len(set(digests)) and run.input_digest in digests
    assert set(run.results) == {"disclosure", "privacy", "memorization", "fidelity", "representation", "manifest"}
    memorization = run.results["memorization"]
    assert memorization["metrics"]["n_exact_duplicates"] == 1
    assert any(item["synthetic_file"] == "synthetic-copy.png" for item in memorization["flagged"])
    # Both hosts read images (13 chunks of one file each), each through its own cache only.
    done = [_chunks_done(tmp_path / f"worker-{index}.log") for index in range(2)]
    assert sum(done) >= run.chunks_total and all(done), done
    for host in hosts:
        assert _files_under(host / "private") == []  # nothing on a host's own disk but its cache
        assert _files_under(host / "cache")


def test_a_worker_killed_mid_run_is_replaced_by_the_other_host(s3, start_worker, tmp_path):
    workers = [
        start_worker(AUDIT_CHUNK_FILES="1", AUDIT_LEASE_SECONDS="15", **s3.worker_env(tmp_path / host))
        for host in ("host-a", "host-b")
    ]
    _wait_for_workers(["live0@", "live1@"])
    project = _audited_project(tmp_path / "fixtures")
    # Both sets current first: the run to follow is the one over both (a run over the set read
    # first may have started before the other was read).
    _wait_ingested(project)
    deadline = time.monotonic() + 120
    run = None
    while time.monotonic() < deadline:
        run = AuditRun.objects.filter(project=project).order_by("-pk").first()
        if run is not None and run.status == RunStatus.RUNNING and run.chunks.filter(done=True).exists():
            break
        time.sleep(0.05)
    assert run is not None and run.status == RunStatus.RUNNING, f"the run never started: {run and run.status}"
    # The host that holds the run's lease goes (its whole process group, as a lost machine would).
    victim = next((w for w in workers if _group_of(run.worker) == w.pid), workers[0])
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = timezone.now()

    final = _wait_final(project)
    assert final.pk == run.pk
    assert final.status == RunStatus.SUCCEEDED, final.error
    assert final.finished_at > killed_at
    assert final.results["memorization"]["metrics"]["n_exact_duplicates"] == 1
    assert _succeeded_entries(final) == 1
    survivor = next(w for w in workers if w is not victim)
    assert survivor.poll() is None
    assert not ImageSet.objects.filter(project=project).exclude(status=SetStatus.READY).exists()
