"""A run spread over chunk tasks (issue 13): read chunks, then the copy search as one task per block
of query images, then a merge of per-image rows. Through a real worker its results equal the
in-process suite over the same files, a mirrored copy and an exact copy found."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audits.engine.preprocess import Preprocessing
from audits.engine.readers import read_file
from audits.engine.suite import run_suite
from audits.engine.types import FileRecord
from audits.engine.types import ImageSet as EngineSet
from audits.enums import ChunkKind, RunStatus, SetRole
from audits.models import AuditChunk, AuditRun, ImageSet
from audits.services.uploads import image_set_upload
from config.storage import local_path
from tests.audits.images import example4d
from tests.audits.test_live import _png, _wait_final, _wait_ingested, _zip
from tests.factories import ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _project(holdout: bool = True):
    """Reference: even EPI slices; held-out: the other time point's odd slices; synthetic: odd
    slices, an exact copy of a reference slice and a mirrored one. Without a held-out set the
    reference also holds a slice twice (the leave-one-out baseline must not match it to itself)."""
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner)
    volume = example4d()
    reference = [_png(volume[:, :, k, 0], f"real-{k:02d}.png", label=False) for k in range(0, 24, 2)]
    sets = [(SetRole.REFERENCE, reference, "real.zip")]
    if holdout:
        held = [_png(volume[:, :, k, 1], f"held-{k:02d}.png", label=False) for k in range(1, 24, 2)]
        sets.append((SetRole.HOLDOUT, held, "held.zip"))
    else:
        reference.insert(7, _png(volume[:, :, 14, 0], "real-14-again.png", label=False))
    synthetic = [_png(volume[:, :, k, 0], f"synthetic-{k:02d}.png") for k in range(1, 17, 2)]
    synthetic.append(_png(volume[:, :, 6, 0], "synthetic-copy.png"))
    synthetic.append(_png(np.ascontiguousarray(volume[::-1, :, 10, 0]), "synthetic-mirrored.png"))
    for role, files, name in (*sets, (SetRole.SYNTHETIC, synthetic, "synthetic.zip")):
        image_set_upload(actor=owner, project=project, role=role, files=[_zip(files, name)])
    _wait_ingested(project)
    return project


def _in_process(run: AuditRun) -> dict:
    """The suite in this process over the run's files, read as the chunk tasks read them."""
    params = Preprocessing(**run.params.get("preprocess", {}))
    sets: dict[str, EngineSet] = {}
    for image_set in ImageSet.objects.filter(runs=run):
        records, images = [], []
        for row in image_set.files.order_by("name"):
            record = FileRecord(name=row.name, sha256=row.sha256, format=row.format, width=row.width,
                                height=row.height, slices=row.slices, header=row.header, error=row.error)  # fmt: skip
            records.append(record)
            if row.error:
                continue
            with local_path(row.stored.name) as path:
                _record, read = read_file(Path(path), row.name, params)
            images.extend(read)
        sets[image_set.role] = EngineSet(role=image_set.role, files=records, images=images)
    results = run_suite(
        synthetic=sets[SetRole.SYNTHETIC],
        reference=sets[SetRole.REFERENCE],
        holdout=sets.get(SetRole.HOLDOUT),
        params=run.params.get("audits", {}),
    )
    return {name: result.as_dict() for name, result in results.items()}


def _without_timings(results: dict) -> str:
    return json.dumps(
        {name: {k: v for k, v in r.items() if k != "timings"} for name, r in results.items()}, sort_keys=True
    )


def test_a_run_through_search_tasks_equals_the_in_process_suite(start_worker):
    start_worker(AUDIT_CHUNK_FILES="3")
    project = _project()
    run = _wait_final(project, timeout=600)
    assert run.status == RunStatus.SUCCEEDED, run.error

    searched = AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH)
    read = AuditChunk.objects.filter(run=run, kind=ChunkKind.READ)
    assert read.count() == 4 + 4 + 4  # 12 files per set, 3 per chunk
    # blocks of equal size across the read chunks (runs.SEARCH_SHARES = 4): the 10 synthetic images in
    # blocks of 2 or 3, three of them spanning two chunks; the baseline's 12 held-out images in blocks of 3
    synthetic_blocks = [chunk.query["parts"] for chunk in searched.filter(query__which="synthetic").order_by("index")]
    assert [sum(len(positions) for _source, positions in parts) for parts in synthetic_blocks] == [2, 3, 3, 2]
    assert [len(parts) for parts in synthetic_blocks] == [1, 2, 2, 2]
    baseline_blocks = searched.filter(query__which="baseline", role=SetRole.HOLDOUT)
    assert [sum(len(p) for _s, p in c.query["parts"]) for c in baseline_blocks.order_by("index")] == [3, 3, 3, 3]
    assert all(chunk.done for chunk in [*searched, *read])

    memorization = run.results["memorization"]
    assert memorization["metrics"]["baseline"] == "holdout"
    flagged = {item["synthetic_file"]: item for item in memorization["flagged"]}
    assert flagged["synthetic-copy.png"]["kind"] == "exact"
    assert flagged["synthetic-mirrored.png"]["reference_file"] == "real-10.png"
    assert flagged["synthetic-mirrored.png"]["transform_text"].startswith("mirrored")

    assert _without_timings(run.results) == _without_timings(_in_process(run))


def test_a_leave_one_out_run_through_search_tasks_equals_the_in_process_suite(start_worker):
    """No held-out set: the baseline is the reference against itself, in blocks that span read
    chunks, with a duplicated slice that neither copy may match (exclusion groups follow the rows)."""
    start_worker(AUDIT_CHUNK_FILES="3")
    project = _project(holdout=False)
    run = _wait_final(project, timeout=600)
    assert run.status == RunStatus.SUCCEEDED, run.error

    baseline = AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH, query__which="baseline")
    assert baseline.count() >= 2 and any(len(chunk.query["parts"]) > 1 for chunk in baseline)
    memorization = run.results["memorization"]
    assert memorization["metrics"]["baseline"] == "train_loo"
    flagged = {item["synthetic_file"]: item for item in memorization["flagged"]}
    assert flagged["synthetic-copy.png"]["kind"] == "exact"
    assert flagged["synthetic-mirrored.png"]["reference_file"] == "real-10.png"

    assert _without_timings(run.results) == _without_timings(_in_process(run))
