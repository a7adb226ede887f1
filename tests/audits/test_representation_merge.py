"""Subgroup metadata through the app's own path: upload, chunks, merge (no worker, no broker).

The worker's merge (audits.services.runs.run_merge) must keep a CSV column "Sex" over the
files' DICOM PatientSex, and must hand the researcher's value mapping to the engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.engine.preprocess import Preprocessing
from audits.models import ImageSet
from audits.selectors import run_input_digest
from audits.services import runs
from audits.services.uploads import image_set_upload
from reviews.models import Project, User
from tests.audits import images as fx

pytestmark = pytest.mark.django_db


def dicoms(folder: Path, n: int, sex: str) -> list[SimpleUploadedFile]:
    """n real MR slices whose PatientSex header says `sex`."""
    path = fx.write_dicom(folder / "source.dcm", "MR_small.dcm", PatientSex=sex, PatientAge="")
    data = path.read_bytes()
    return [SimpleUploadedFile(f"mr{i:02d}.dcm", data) for i in range(n)]


def csv(column: str, values: list[str]) -> SimpleUploadedFile:
    text = f"file,{column}\n" + "".join(f"mr{i:02d}.dcm,{value}\n" for i, value in enumerate(values))
    return SimpleUploadedFile("subjects.csv", text.encode())


def run_through_the_app(project: Project, actor: User, capture) -> dict:
    with capture(execute=False):
        run = runs.audit_run_request(project=project, actor=actor, reason="test")
        claimed = runs.run_claim(run_id=run.pk)
        assert claimed is not None
        runs.run_plan_chunks(run=claimed)
        for chunk in claimed.chunks.order_by("index"):
            artifact = runs.chunk_compute(chunk=chunk, params=Preprocessing(**claimed.params.get("preprocess", {})))
            runs.chunk_complete(run=claimed, index=chunk.index, artifact=artifact)
        return runs.run_merge(run=claimed)


def test_csv_sex_wins_over_patient_sex_and_the_mapping_reaches_the_engine(
    tmp_path: Path, project: Project, researcher: User, django_capture_on_commit_callbacks
) -> None:
    # Every synthetic header says F; the CSV's "Sex" column says W or H, which the mapping reads as F and M.
    image_set_upload(
        actor=researcher,
        project=project,
        role="synthetic",
        files=dicoms(tmp_path / "s", 12, "F"),
        metadata=csv("Sex", ["W", "H"] * 6),
        value_map=SimpleUploadedFile("groups.csv", b"attribute,value,group\nsex,W,F\nsex,H,M\n"),
        ingest_now=True,
    )
    # Every reference header says M; its CSV column is "SEX".
    image_set_upload(
        actor=researcher,
        project=project,
        role="reference",
        files=dicoms(tmp_path / "r", 12, "M"),
        metadata=csv("SEX", ["female", "male"] * 6),
        ingest_now=True,
    )
    results = run_through_the_app(project, researcher, django_capture_on_commit_callbacks)
    representation = results["representation"]
    sex = representation["metrics"]["attributes"]["SEX"]  # named as the reference set spells it
    # The headers would make it 12 F against 12 M (TVD 1); the CSVs say 6 and 6 on both sides.
    assert sex["categories"] == ["F", "M"]
    assert sex["real_counts"] == [6, 6] and sex["synth_counts"] == [6, 6]
    assert sex["tvd"] == 0 and sex["status"] == "pass"
    assert {row["value"]: (row["group"], row["rule"]) for row in sex["mapping"]} == {
        "W": ("F", "your mapping"),
        "female": ("F", "sex synonym"),
        "H": ("M", "your mapping"),
        "male": ("M", "sex synonym"),
    }
    assert set(representation["metrics"]["attributes"]) == {"SEX", "site", "scanner"}  # no header-made "sex"


def test_a_new_value_mapping_is_a_new_input_not_a_reused_result(project: Project, researcher: User) -> None:
    image_set = ImageSet.objects.create(project=project, role="synthetic", uploaded_by=researcher, digest="a" * 64)
    before = run_input_digest({"synthetic": image_set}, {})
    image_set.value_map_text = "attribute,value,group\nsex,W,F\n"
    with_map = run_input_digest({"synthetic": image_set}, {})
    image_set.value_map_text = "attribute,value,group\nsex,W,M\n"
    assert len({before, with_map, run_input_digest({"synthetic": image_set}, {})}) == 3
