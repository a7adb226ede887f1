"""The copy search's stage of a run (issue 13), service by service as the tasks call them: planned
once after the last read chunk, one search chunk per block of query images, the merge sent once
after the last block, a redelivered or stale message harmless, a re-queued run resuming."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from audits.engine.preprocess import Preprocessing
from audits.enums import ChunkKind, SetRole
from audits.models import AuditChunk, AuditRun
from audits.services import runs
from audits.services.uploads import image_set_upload
from config.storage import local_path
from tests.audits.images import dicom_source, write_dicom

pytestmark = pytest.mark.django_db


def _upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/octet-stream")


def _run(project, researcher, tmp_path: Path, *, reference: bool = True) -> AuditRun:
    """Reference: a CT slice, its mirror image and a shifted copy; synthetic: an exact copy and a brighter one."""
    ct = dicom_source("CT_small.dcm")
    pixels = pydicom.dcmread(ct).pixel_array
    mirrored = write_dicom(tmp_path / "mirrored.dcm", "CT_small.dcm", pixels=np.fliplr(pixels))
    rolled = write_dicom(tmp_path / "rolled.dcm", "CT_small.dcm", pixels=np.roll(pixels, 40, axis=0))
    copy = write_dicom(tmp_path / "copy.dcm", "CT_small.dcm")
    raised = write_dicom(tmp_path / "raised.dcm", "CT_small.dcm", RescaleIntercept=-924)
    if reference:
        files = [_upload(ct), _upload(mirrored), _upload(rolled)]
        image_set_upload(actor=researcher, project=project, role=SetRole.REFERENCE, files=files, ingest_now=True)
    files = [_upload(copy), _upload(raised)]
    image_set_upload(actor=researcher, project=project, role=SetRole.SYNTHETIC, files=files, ingest_now=True)
    run = runs.audit_run_request(project=project, actor=researcher, reason="test")
    claimed = runs.run_claim(run_id=run.pk)
    assert claimed is not None
    runs.run_plan_chunks(run=claimed)
    for chunk in AuditChunk.objects.filter(run=claimed, kind=ChunkKind.READ).order_by("index"):
        artifact = runs.chunk_compute(chunk=chunk, params=Preprocessing())
        assert runs.chunk_complete(run=claimed, index=chunk.index, artifact=artifact)
    return claimed


def _flags(run: AuditRun) -> tuple[bool, bool]:
    run.refresh_from_db()
    return run.search_sent, run.merge_sent


@override_settings(AUDIT_CHUNK_FILES=1)
def test_the_search_is_planned_once_and_the_merge_sent_after_its_last_block(project, researcher, tmp_path):
    run = _run(project, researcher, tmp_path)
    assert _flags(run) == (True, False)  # the plan was sent after the last read chunk; no block yet
    assert not AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH).exists()

    runs.run_plan_search(run=run)
    runs.run_plan_search(run=run)  # delivered twice: planned once
    searches = list(AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH).order_by("index"))
    # blocks of equal size, as many as SEARCH_SHARES allows with 2 synthetic images and the 3 of the
    # leave-one-out baseline: one image each, from its read chunk (chunks of 1 file)
    assert [(c.role, c.query["which"]) for c in searches] == [
        (SetRole.SYNTHETIC, "synthetic"),
        (SetRole.SYNTHETIC, "synthetic"),
        (SetRole.REFERENCE, "baseline"),
        (SetRole.REFERENCE, "baseline"),
        (SetRole.REFERENCE, "baseline"),
    ]
    assert all(len(c.query["parts"]) == 1 and c.query["parts"][0][1] == [0] for c in searches)
    assert sorted(c.query["parts"][0][0] for c in searches[:2]) == sorted(
        AuditChunk.objects.filter(run=run, kind=ChunkKind.READ, role=SetRole.SYNTHETIC).values_list("index", flat=True)
    )
    run.refresh_from_db()
    assert run.progress_message == "Searching the images for copies"

    first = runs.search_compute(chunk=searches[0], run=run)
    assert runs.search_compute(chunk=searches[0], run=run) == first  # a redelivered block rewrites its own file
    for chunk in searches[:-1]:
        assert runs.chunk_complete(run=run, index=chunk.index, artifact=runs.search_compute(chunk=chunk, run=run))
    assert _flags(run) == (True, False)
    run.refresh_from_db()
    assert run.progress_message == "Searched 4 of 5 blocks of images for copies"
    last = searches[-1]
    assert runs.chunk_complete(run=run, index=last.index, artifact=runs.search_compute(chunk=last, run=run))
    assert _flags(run) == (True, True)

    results = runs.run_merge(run=run)
    memorization = results["memorization"]
    assert memorization["metrics"]["baseline"] == "train_loo"
    assert memorization["flagged"][0]["synthetic"] == "copy.dcm" and memorization["flagged"][0]["kind"] == "exact"
    assert {row["label"] for row in memorization["charts"]["per_image"]} == {"copy.dcm", "raised.dcm"}


def test_a_run_with_nothing_to_search_goes_to_the_merge(project, researcher, tmp_path):
    run = _run(project, researcher, tmp_path, reference=False)
    assert runs.run_plan_search(run=run) == []
    assert not AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH).exists()
    assert _flags(run) == (True, True)
    results = runs.run_merge(run=run)
    assert results["memorization"]["status"] == "not_computable"


@override_settings(AUDIT_CHUNK_FILES=1)
def test_a_requeued_run_resumes_its_search_and_a_stale_block_is_nobodys(project, researcher, tmp_path):
    run = _run(project, researcher, tmp_path)
    runs.run_plan_search(run=run)
    searches = list(AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH).order_by("index"))
    done = searches[0]
    assert runs.chunk_complete(run=run, index=done.index, artifact=runs.search_compute(chunk=done, run=run))

    AuditRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert runs.reconcile_runs()["requeued"] == 1
    assert _flags(run) == (False, False)
    again = runs.run_claim(run_id=run.pk)
    assert again is not None and again.attempts == 2
    # the read chunks and the finished block stay done: only the other blocks are sent again
    assert runs.run_plan_chunks(run=again) == [c.index for c in searches[1:]]

    stale = searches[1]
    artifact = runs.search_compute(chunk=stale, run=run)
    assert runs.chunk_complete(run=run, index=stale.index, artifact=artifact) is False  # attempt 1 lost the run
    assert not AuditChunk.objects.get(pk=stale.pk).done


@override_settings(AUDIT_CHUNK_FILES=1)
def test_a_block_planned_before_blocks_spanned_read_chunks_still_searches(project, researcher, tmp_path):
    """A run planned by the previous release names one source chunk and its positions per block; a
    worker of this release searches that block as it searches the same block written as parts."""
    run = _run(project, researcher, tmp_path)
    runs.run_plan_search(run=run)
    chunk = AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH, query__which="baseline").order_by("index")[0]

    def searched() -> dict[str, np.ndarray]:
        with local_path(runs.search_compute(chunk=chunk, run=run)) as path, np.load(path) as data:
            return {name: data[name] for name in data.files}

    as_parts = searched()
    ((source, positions),) = chunk.query["parts"]
    chunk.query = {"which": "baseline", "source": source, "positions": positions}
    chunk.save(update_fields=["query"])
    as_before = searched()
    assert as_before.keys() == as_parts.keys() and len(as_parts["d"]) == 1
    assert all(np.array_equal(as_before[name], as_parts[name]) for name in as_parts)
