"""Privacy audit: identifying attributes and identifiers shared with the real set."""

from __future__ import annotations

import json
from pathlib import Path

from audits.engine import ENGINE_VERSION, privacy
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import read_folder
from audits.engine.types import Status
from tests.audits import images as fx

P = Preprocessing(size=16)

CLEAN = {
    "PatientName": "",
    "PatientID": "",
    "PatientBirthDate": "",
    "InstitutionName": None,
    "InstitutionAddress": None,
    "ReferringPhysicianName": "",
    "AccessionNumber": "",
    "PatientIdentityRemoved": "YES",
}


def sets(tmp_path: Path) -> tuple:
    return read_folder(tmp_path / "syn", "synthetic", P), read_folder(tmp_path / "real", "reference", P)


def write_reference(tmp_path: Path) -> Path:
    return fx.write_dicom(tmp_path / "real/ct.dcm", "CT_small.dcm", synthetic=None, equipment=False, fresh_uids=False)


def test_clean_synthetic_files_pass(tmp_path: Path) -> None:
    write_reference(tmp_path)
    for i in range(3):
        fx.write_dicom(tmp_path / f"syn/s{i}.dcm", "CT_small.dcm", **CLEAN)
    result = privacy.run(*sets(tmp_path))
    assert result.status == Status.PASS, result.flagged
    assert result.metrics["n_dicom_files"] == 3
    assert result.metrics["n_patient_identity_removed_yes"] == 3
    assert result.flagged == []
    assert result.code_version == ENGINE_VERSION
    assert result.inputs["n_synthetic_dicom"] == 3 and result.inputs["n_reference_dicom"] == 1
    json.dumps(result.as_dict())


def test_copied_patient_id_fails(tmp_path: Path) -> None:
    write_reference(tmp_path)
    fx.write_dicom(tmp_path / "syn/clean.dcm", "CT_small.dcm", **CLEAN)
    fx.write_dicom(tmp_path / "syn/leak.dcm", "CT_small.dcm", **{**CLEAN, "PatientID": "1CT1"})
    result = privacy.run(*sets(tmp_path))
    assert result.status == Status.FAIL
    assert result.metrics["n_files_sharing_identifiers"] == 1
    assert result.metrics["shared_by_attribute"] == {"PatientID": 1}
    assert result.flagged == [
        {
            "file": "leak.dcm",
            "attribute": "PatientID",
            "reference_file": "ct.dcm",
            "reason": "PatientID is the same as in real file ct.dcm (shared identifier)",
        }
    ]
    assert "1CT1" not in json.dumps(result.as_dict())  # the value itself is never repeated


def test_copied_uids_fail_even_when_identity_removed(tmp_path: Path) -> None:
    write_reference(tmp_path)
    fx.write_dicom(tmp_path / "syn/copy.dcm", "CT_small.dcm", fresh_uids=False, **CLEAN)
    result = privacy.run(*sets(tmp_path))
    assert result.status == Status.FAIL
    shared = result.metrics["shared_by_attribute"]
    assert shared["StudyInstanceUID"] == shared["SeriesInstanceUID"] == shared["SOPInstanceUID"] == 1
    chart = {row["attribute"]: row for row in result.charts["by_attribute"]}
    assert chart["SOPInstanceUID"]["shared_with_reference"] == 1
    assert chart["PatientName"]["present"] == 0


def test_identifying_attributes_not_shared_warn(tmp_path: Path) -> None:
    write_reference(tmp_path)
    fx.write_dicom(tmp_path / "syn/named.dcm", "MR_small.dcm")  # keeps MR_small's own patient, not the CT's
    fx.write_dicom(tmp_path / "syn/anon.dcm", "MR_small.dcm", **{**CLEAN, "PatientName": "ANONYMOUS"})
    result = privacy.run(*sets(tmp_path))
    assert result.status == Status.WARN
    assert result.metrics["n_files_with_identifying_attributes"] == 1
    assert result.metrics["identifying_attributes_present"]["PatientName"] == 1
    assert result.flagged[0]["file"] == "named.dcm"
    assert "PatientIdentityRemoved is not YES" in result.flagged[0]["reason"]


def test_patient_name_match_ignores_case_and_separators(tmp_path: Path) -> None:
    write_reference(tmp_path)
    fx.write_dicom(tmp_path / "syn/a.dcm", **{**CLEAN, "PatientName": "compressedsamples ct1"})
    result = privacy.run(*sets(tmp_path))
    assert result.status == Status.FAIL
    assert result.metrics["shared_by_attribute"] == {"PatientName": 1}


def test_reference_without_dicom_checks_attributes_only(tmp_path: Path) -> None:
    fx.write_png(tmp_path / "real/r.png")
    fx.write_dicom(tmp_path / "syn/a.dcm", "CT_small.dcm", fresh_uids=False)
    fx.write_png(tmp_path / "syn/b.png")
    result = privacy.run(*sets(tmp_path))
    assert result.status == Status.WARN
    assert any("not checked" in caveat for caveat in result.caveats)
    assert privacy.run(read_folder(tmp_path / "syn", "synthetic", P), None).status == Status.WARN


def test_not_computable_without_dicom(tmp_path: Path) -> None:
    fx.write_png(tmp_path / "syn/a.png")
    fx.write_nifti(tmp_path / "syn/b.nii.gz", "slice")
    write_reference(tmp_path)
    result = privacy.run(*sets(tmp_path))
    assert result.status == Status.NOT_COMPUTABLE
    assert result.reason == "no DICOM files: header privacy checks apply to DICOM only"
    assert result.needed
    assert result.inputs["n_synthetic_accepted"] == 2
