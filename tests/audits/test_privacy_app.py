"""The privacy audit in the app: the header values it compares survive the upload, and its
flags and chart render on the result page without repeating any value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audits import charts
from audits.engine import privacy
from audits.engine.preprocess import Preprocessing
from audits.engine.types import Status
from audits.enums import SetRole
from audits.models import AuditRun
from audits.services.runs import load_engine_sets
from audits.services.uploads import image_set_upload
from tests.audits import images as fx
from tests.audits.engine.test_privacy import HELD_OUT_PATIENT, TRAINING_PATIENT, audit, synthetic, write_real
from tests.audits.test_pages import _chart_blocks, add_run

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")]


def upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/octet-stream")


def test_uploaded_headers_carry_every_value_the_audit_compares(
    tmp_path: Path, project, researcher, django_capture_on_commit_callbacks
) -> None:
    real = fx.write_dicom(tmp_path / "real.dcm", "CT_small.dcm", synthetic=None, equipment=False, fresh_uids=False)
    # A generator that blanked the patient but kept the real exam's dates and the old IDs.
    synthetic_file = fx.write_dicom(tmp_path / "synthetic.dcm", "CT_small.dcm", PatientName="SYNTHETIC", PatientID="")
    with django_capture_on_commit_callbacks(execute=False):
        image_set_upload(
            actor=researcher, project=project, role=SetRole.REFERENCE, files=[upload(real)], ingest_now=True
        )
        image_set_upload(
            actor=researcher, project=project, role=SetRole.SYNTHETIC, files=[upload(synthetic_file)], ingest_now=True
        )
    run = AuditRun.objects.latest("pk")
    sets = load_engine_sets(run, Preprocessing(size=16))
    header = sets[SetRole.REFERENCE].files[0].header
    assert header["StudyDate"] == "20040119" and header["ContentTime"] == "113008"
    assert header["OtherPatientIDsSequence"] == ["ABCD1234", "1234ABCD"]

    result = privacy.run(sets[SetRole.SYNTHETIC], sets[SetRole.REFERENCE])
    assert result.status == Status.FAIL
    attributes = {flag["attribute"] for flag in result.flagged}
    assert {"StudyDate", "ContentTime", "OtherPatientIDsSequence", "InstitutionName"} <= attributes
    assert "PatientName" not in attributes and "PatientID" not in attributes


def test_the_result_page_names_the_real_set_and_file_never_the_value(
    tmp_path: Path, client, project, researcher
) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "leak.dcm", PatientName="Okafor^Daniel", AccessionNumber="ACC77123")
    synthetic(tmp_path, "clean.dcm")
    result = audit(tmp_path).as_dict()
    run = add_run(project, results={"privacy": result})
    client.force_login(researcher)
    page = client.get(
        reverse("audit-result", kwargs={"pk": project.pk, "run_pk": run.pk, "audit": "privacy"})
    ).content.decode()

    assert '<th scope="col">Real set</th>' in page and '<th scope="col">Real file</th>' in page
    assert "<td>held-out</td>" in page and "<td>held_001.dcm</td>" in page
    assert "<td>reference</td>" in page and "<td>train_001.dcm</td>" in page
    for patient in (TRAINING_PATIENT, HELD_OUT_PATIENT):
        for keyword in ("PatientName", "PatientID", "AccessionNumber"):
            assert patient[keyword] not in page
    [figure] = _chart_blocks(page)
    names = [trace["name"] for trace in figure["data"]]
    assert names == [
        "non-placeholder value in synthetic files",
        "same value as a training (reference) file",
        "same value as a held-out file",
    ]
    held_out = dict(zip(figure["data"][2]["y"], figure["data"][2]["x"], strict=True))
    assert held_out["PatientName"] == 1 and held_out["AccessionNumber"] == 0
    # A result stored before the held-out comparison still draws, without the held-out bars.
    old = {
        **result,
        "charts": {"by_attribute": [{"attribute": "PatientName", "present": 3, "shared_with_reference": 1}]},
    }
    assert len(charts.figures("privacy", old)[0].figure["data"]) == 2
    json.dumps(result)
