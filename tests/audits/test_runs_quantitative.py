"""Quantitative intensities through the app's chunk path: values in HU survive the chunk artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.engine import fidelity
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import read_file
from audits.enums import SetRole
from audits.models import AuditChunk
from audits.services import runs
from audits.services.uploads import image_set_upload
from tests.audits.images import dicom_source, write_dicom

pytestmark = pytest.mark.django_db


def _upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/octet-stream")


def _computed_run(project, researcher, tmp_path: Path):
    """A run over a real CT reference (two slices) and a synthetic copy read 100 HU higher, chunks done."""
    ct = dicom_source("CT_small.dcm")
    flipped = write_dicom(tmp_path / "flipped.dcm", "CT_small.dcm", pixels=np.fliplr(read_pixels(ct)))
    raised = write_dicom(tmp_path / "raised.dcm", "CT_small.dcm", RescaleIntercept=-924)
    image_set_upload(
        actor=researcher,
        project=project,
        role=SetRole.REFERENCE,
        files=[_upload(ct), _upload(flipped)],
        ingest_now=True,
    )
    image_set_upload(
        actor=researcher, project=project, role=SetRole.SYNTHETIC, files=[_upload(raised)], ingest_now=True
    )
    run = runs.audit_run_request(project=project, actor=researcher, reason="test")
    run = runs.run_claim(run_id=run.pk)
    assert run is not None
    runs.run_plan_chunks(run=run)
    for chunk in AuditChunk.objects.filter(run=run).order_by("index"):
        artifact = runs.chunk_compute(chunk=chunk, params=Preprocessing())
        runs.chunk_complete(run=run, index=chunk.index, artifact=artifact)
    return run, raised


def read_pixels(path: Path) -> np.ndarray:
    return pydicom.dcmread(path).pixel_array


def test_hounsfield_values_survive_the_chunk_artifacts(project, researcher, tmp_path: Path) -> None:
    run, raised = _computed_run(project, researcher, tmp_path)
    sets = runs.load_engine_sets(run, Preprocessing())
    (synthetic,) = sets[SetRole.SYNTHETIC].images
    assert synthetic.unit == "HU"
    _, (direct,) = read_file(raised, "raised.dcm", Preprocessing())
    assert synthetic.native is not None and direct.native is not None
    np.testing.assert_array_equal(synthetic.native, direct.native)
    reference = sets[SetRole.REFERENCE].images
    assert [image.unit for image in reference] == ["HU", "HU"]
    # The same stored pixels, 100 HU apart: only the kept values show it.
    original = next(image for image in reference if image.pixel_sha256 == synthetic.pixel_sha256)
    np.testing.assert_allclose(synthetic.pixels, original.pixels)
    assert original.native is not None
    np.testing.assert_allclose(synthetic.native - original.native, 100.0, atol=1e-2)
    scale, caveats = fidelity.choose_scale(
        sets[SetRole.SYNTHETIC].usable, sets[SetRole.REFERENCE].usable, fidelity.DEFAULTS, np.random.default_rng(0)
    )
    assert (scale.quantitative, scale.unit, caveats) == (True, "HU", [])


def test_an_artifact_written_before_values_were_kept_reads_as_relative(project, researcher, tmp_path: Path) -> None:
    run, _ = _computed_run(project, researcher, tmp_path)
    for chunk in run.chunks.all():
        path = storages["private"].path(chunk.artifact)
        with np.load(path, allow_pickle=True) as data:
            kept = {key: data[key] for key in data.files if key not in ("native", "units")}
        with open(path, "wb") as handle:
            np.savez(handle, **kept)
    sets = runs.load_engine_sets(run, Preprocessing())
    images = sets[SetRole.SYNTHETIC].images + sets[SetRole.REFERENCE].images
    assert [(image.native, image.unit) for image in images] == [(None, "")] * 3
