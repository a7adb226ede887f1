"""Privacy audit: identifiers of every real set (reference and held-out) in synthetic DICOM files.

The files are pydicom's shipped CT and MR images, relabelled: two real patients (one in the
reference set, one in the held-out set) and synthetic files that carry placeholders, or one of
the real patients' identifiers written the way another system would write it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from audits.engine import ENGINE_VERSION, privacy
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import read_file, read_folder
from audits.engine.suite import run_suite
from audits.engine.types import AuditResult, ImageSet, Status
from tests.audits import images as fx

P = Preprocessing(size=16)
# Some synthetic files write dates and times as other systems do (2022-09-14, 14:32:10): pydicom warns.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")

DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
TIMES = ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime")

# What a careful generator writes: placeholders, no dates, no real UIDs (write_dicom makes fresh ones).
CLEAN: dict[str, Any] = {
    "PatientName": "SYNTHETIC",
    "PatientID": "",
    "OtherPatientIDs": None,
    "OtherPatientIDsSequence": None,
    "PatientBirthDate": "",
    "AccessionNumber": "",
    "InstitutionName": None,
    "ReferringPhysicianName": "",
    "PatientIdentityRemoved": "YES",
    **dict.fromkeys(DATES + TIMES),
}

TRAINING_PATIENT: dict[str, Any] = {
    "PatientName": "Moreau^Claire^Anne",
    "PatientID": "MRN-204817",
    "PatientBirthDate": "19650412",
    "AccessionNumber": "ACC77123",
    "InstitutionName": "Hopital Saint-Exemple",
    "ReferringPhysicianName": "Garnier^Paul",
    "StudyDate": "20230105",
    "SeriesDate": "20230105",
    "AcquisitionDate": "20230105",
    "ContentDate": "20230106",
    "StudyTime": "101530.123",
    "SeriesTime": "102000",
    "AcquisitionTime": "102105.5",
    "ContentTime": "102230",
}
HELD_OUT_PATIENT: dict[str, Any] = {
    "PatientName": "Okafor^Daniel",
    "PatientID": "HX-99812",
    "PatientBirthDate": "19580307",
    "AccessionNumber": "ACC80456",
    "InstitutionName": "Northfield General",
    "ReferringPhysicianName": "Lindqvist^Eva",
    "StudyDate": "20220914",
    "SeriesDate": "20220914",
    "AcquisitionDate": "20220914",
    "ContentDate": "20220914",
    "StudyTime": "143001",
    "SeriesTime": "143210",
    "AcquisitionTime": "143305",
    "ContentTime": "143400",
}


def other_ids(*ids: str) -> list[Dataset]:
    items = []
    for value in ids:
        item = Dataset()
        item.PatientID = value
        item.TypeOfPatientID = "TEXT"
        items.append(item)
    return items


def write_real(tmp_path: Path) -> None:
    fx.write_dicom(tmp_path / "real/train_001.dcm", "CT_small.dcm", synthetic=None, equipment=False, fresh_uids=False,
                   OtherPatientIDsSequence=other_ids("OLD-5531"), **TRAINING_PATIENT)  # fmt: skip
    fx.write_dicom(tmp_path / "held/held_001.dcm", "MR_small.dcm", synthetic=None, equipment=False,
                   **HELD_OUT_PATIENT)  # fmt: skip


def synthetic(tmp_path: Path, name: str, source: str = "MR_small.dcm", **attributes: Any) -> None:
    fx.write_dicom(tmp_path / "syn" / name, source, **{**CLEAN, **attributes})


def audit(tmp_path: Path, holdout: bool = True, **params: Any) -> AuditResult:
    syn, ref, held = loaded(tmp_path, holdout)
    return privacy.run(syn, ref, params or None, holdout=held)


def loaded(tmp_path: Path, holdout: bool = True) -> tuple[ImageSet, ImageSet, ImageSet | None]:
    return (
        read_folder(tmp_path / "syn", "synthetic", P),
        read_folder(tmp_path / "real", "reference", P),
        read_folder(tmp_path / "held", "holdout", P) if holdout else None,
    )


def flags(result: AuditResult) -> set[tuple[str, str, str, str]]:
    """(synthetic file, attribute, real set, real file) of every fail-level flag."""
    return {(f["file"], f["attribute"], f["real_set"], f["real_file"]) for f in result.flagged if f["level"] == "fail"}


def assert_no_values(result: AuditResult, *patients: dict[str, Any]) -> None:
    """The report names attributes and files, never the values it found."""
    text = json.dumps(result.as_dict())
    for patient in patients:
        for keyword in ("PatientName", "PatientID", "AccessionNumber", "InstitutionName"):
            assert patient[keyword] not in text
        assert patient["PatientName"].split("^")[0] not in text


# --------------------------------------------------------------------------- placeholders


def test_placeholders_are_never_identifying(tmp_path: Path) -> None:
    write_real(tmp_path)
    # The real sets use placeholders too: a placeholder on both sides is not a shared identifier.
    fx.write_dicom(
        tmp_path / "real/anon.dcm", "CT_small.dcm", **{**CLEAN, "PatientName": "ANONYMOUS", "PatientID": "0"}
    )
    placeholders = [
        {"PatientName": "SYNTHETIC"},
        {"PatientName": "ANONYMOUS", "PatientID": "ANONYMOUS"},
        {"PatientName": "anonymized^^", "PatientID": "000000"},
        {"PatientName": "^"},
        {"PatientName": "   ", "PatientID": "  "},
        {"PatientName": "", "PatientBirthDate": "19000101"},
        {"PatientName": "Unknown^Patient", "InstitutionName": "UNKNOWN", "ReferringPhysicianName": "N/A"},
        {"PatientName": "SYNTHETIC^0007", "PatientID": "SYNTH-0007", "StudyTime": "000000"},
        {"PatientName": "Anonymous^Patient", "PatientID": "N/A", "StudyDate": "00000000"},
        {"PatientName": "PHANTOM", "PatientID": "XXXXXX", "ReferringPhysicianName": "Doe^John"},
        {"PatientName": "Test^S R", "AccessionNumber": "0000000", "StudyInstanceUID": "0"},
    ]
    for i, attributes in enumerate(placeholders):
        synthetic(tmp_path, f"s{i}.dcm", **attributes)
    result = audit(tmp_path)
    assert result.status == Status.PASS, result.flagged
    assert result.flagged == []
    assert result.metrics["n_dicom_files"] == len(placeholders)
    # SYNTHETIC^0007, SYNTH-0007, Doe^John and Test^S R are compared: pseudonyms and stand-ins
    assert result.metrics["n_placeholder_values"] == 18
    assert result.metrics["n_patient_identity_removed_yes"] == len(placeholders)
    assert (
        result.summary
        == "No identifier of a real file against the reference set and the held-out set in 11 synthetic DICOM files."
    )
    assert result.code_version == ENGINE_VERSION
    assert result.inputs["n_synthetic_dicom"] == 11 and result.inputs["n_holdout_dicom"] == 1


def test_a_real_pseudonym_is_a_match_but_a_numbered_placeholder_alone_is_not(tmp_path: Path) -> None:
    write_real(tmp_path)
    fx.write_dicom(
        tmp_path / "real/pseudo.dcm", "CT_small.dcm", **{**CLEAN, "PatientName": "ANON^0042", "PatientID": "ANON0042"}
    )
    synthetic(tmp_path, "same.dcm", PatientName="anon 0042", PatientID="anon-0042")
    synthetic(tmp_path, "other.dcm", PatientName="ANON^0043", PatientID="ANON0043")
    result = audit(tmp_path)
    assert result.status == Status.FAIL
    assert flags(result) == {
        ("same.dcm", "PatientName", "reference", "pseudo.dcm"),
        ("same.dcm", "PatientID", "reference", "pseudo.dcm"),
    }


def test_stand_in_names_of_real_test_data_are_compared(tmp_path: Path) -> None:
    """Shared test data names its patients Doe^Peter, Lastname^Firstname, Test^S R: still real files' names."""
    write_real(tmp_path)
    fx.write_dicom(tmp_path / "held/held_002.dcm", "MR_small.dcm", PatientName="Lastname^Firstname")
    fx.write_dicom(tmp_path / "held/held_003.dcm", "MR_small.dcm", PatientName="Test^S R")
    synthetic(tmp_path, "a.dcm", PatientName="LASTNAME FIRSTNAME")
    synthetic(tmp_path, "b.dcm", PatientName="test^s^r")
    synthetic(tmp_path, "c.dcm", PatientName="Doe^John")  # a stand-in no real file has: not flagged
    result = audit(tmp_path)
    assert flags(result) == {
        ("a.dcm", "PatientName", "held-out", "held_002.dcm"),
        ("b.dcm", "PatientName", "held-out", "held_003.dcm"),
    }
    assert {flag["file"] for flag in result.flagged} == {"a.dcm", "b.dcm"}


# --------------------------------------------------------------------------- every real set, every identifier


def test_held_out_name_id_and_birth_date_fail_whatever_their_formatting(tmp_path: Path) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "name.dcm", PatientName="DANIEL OKAFOR")
    synthetic(tmp_path, "id.dcm", PatientID="hx 99812")
    synthetic(tmp_path, "birth.dcm", PatientBirthDate="1958.03.07")
    synthetic(tmp_path, "clean.dcm")
    result = audit(tmp_path)
    assert result.status == Status.FAIL
    assert flags(result) == {
        ("name.dcm", "PatientName", "held-out", "held_001.dcm"),
        ("id.dcm", "PatientID", "held-out", "held_001.dcm"),
        ("birth.dcm", "PatientBirthDate", "held-out", "held_001.dcm"),
    }
    assert result.metrics["n_files_sharing_with_holdout"] == 3
    assert result.metrics["n_files_sharing_with_reference"] == 0
    assert result.summary == (
        "3 of 4 synthetic DICOM files carry identifiers of real files (3 matches: 3 with the held-out set)."
    )
    assert_no_values(result, HELD_OUT_PATIENT)
    assert "19580307" not in json.dumps(result.as_dict())


def test_patient_identity_removed_yes_hides_nothing(tmp_path: Path) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "declared.dcm", PatientName="Moreau^Claire^Anne", PatientIdentityRemoved="YES")
    result = audit(tmp_path)
    assert result.status == Status.FAIL
    assert flags(result) == {("declared.dcm", "PatientName", "reference", "train_001.dcm")}
    assert any("hides nothing" in caveat for caveat in result.caveats)


@pytest.mark.parametrize(
    ("attribute", "value", "real_set", "real_file"),
    [
        ("StudyDate", "20230105", "reference", "train_001.dcm"),
        ("SeriesDate", "2022-09-14", "held-out", "held_001.dcm"),
        ("AcquisitionDate", "20230105", "reference", "train_001.dcm"),
        ("ContentDate", "20220914", "held-out", "held_001.dcm"),
        ("StudyTime", "101530", "reference", "train_001.dcm"),  # the real one is 101530.123
        ("SeriesTime", "14:32:10.000", "held-out", "held_001.dcm"),
        ("AcquisitionTime", "102105", "reference", "train_001.dcm"),
        ("ContentTime", "143400.00", "held-out", "held_001.dcm"),
        ("AccessionNumber", "acc77123", "reference", "train_001.dcm"),
        ("AccessionNumber", "ACC80456", "held-out", "held_001.dcm"),
        ("InstitutionName", "HOPITAL SAINT EXEMPLE", "reference", "train_001.dcm"),
        ("InstitutionName", "Northfield General", "held-out", "held_001.dcm"),
        ("ReferringPhysicianName", "Paul Garnier", "reference", "train_001.dcm"),
        ("ReferringPhysicianName", "LINDQVIST^EVA", "held-out", "held_001.dcm"),
        ("OtherPatientIDs", ["LOCAL-1", "MRN204817"], "reference", "train_001.dcm"),
        ("OtherPatientIDsSequence", other_ids("X-1", "HX-99812"), "held-out", "held_001.dcm"),
        ("PatientID", "old 5531", "reference", "train_001.dcm"),  # from the real OtherPatientIDsSequence
    ],
)
def test_each_real_identifier_fails_and_names_the_real_file(
    tmp_path: Path, attribute: str, value: Any, real_set: str, real_file: str
) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "leak.dcm", **{attribute: value})
    synthetic(tmp_path, "clean.dcm")
    result = audit(tmp_path)
    assert result.status == Status.FAIL
    assert flags(result) == {("leak.dcm", attribute, real_set, real_file)}
    assert result.metrics["shared_by_attribute"] == {attribute: 1}
    assert result.metrics["n_files_sharing_identifiers"] == 1
    [flag] = result.flagged
    assert real_file in flag["reason"] and attribute in flag["reason"]
    assert_no_values(result, TRAINING_PATIENT, HELD_OUT_PATIENT)


def test_copied_uids_fail_even_when_identity_removed(tmp_path: Path) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "copy.dcm", source="CT_small.dcm", fresh_uids=False)
    result = audit(tmp_path)
    assert result.status == Status.FAIL
    uids = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
    assert flags(result) == {("copy.dcm", uid, "reference", "train_001.dcm") for uid in uids}
    chart = {row["attribute"]: row for row in result.charts["by_attribute"]}
    assert chart["SOPInstanceUID"] == {
        "attribute": "SOPInstanceUID", "present": 1, "shared_with_reference": 1, "shared_with_holdout": 0,
    }  # fmt: skip
    assert chart["PatientName"]["present"] == 0  # SYNTHETIC is a placeholder


def test_a_real_time_fails_and_its_flag_says_when_the_file_is_dated_another_day(tmp_path: Path) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "other_day.dcm", StudyDate="20250101", StudyTime="143001")
    synthetic(tmp_path, "same_day.dcm", StudyDate="20220914", StudyTime="143001")
    result = audit(tmp_path)
    assert result.status == Status.FAIL
    assert flags(result) == {
        ("other_day.dcm", "StudyTime", "held-out", "held_001.dcm"),
        ("same_day.dcm", "StudyDate", "held-out", "held_001.dcm"),
        ("same_day.dcm", "StudyTime", "held-out", "held_001.dcm"),
    }
    assert result.metrics["n_times_on_other_days"] == 1
    reasons = {(flag["file"], flag["attribute"]): flag["reason"] for flag in result.flagged}
    assert "on another day" in reasons["other_day.dcm", "StudyTime"]
    assert "on another day" not in reasons["same_day.dcm", "StudyTime"]
    assert any("another day than the real exam" in caveat for caveat in result.caveats)


def test_identifying_values_found_in_no_real_file_warn(tmp_path: Path) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "named.dcm", PatientName="Ravel^Maurice", PatientID="Z-11", PatientBirthDate="19450101")
    synthetic(tmp_path, "clean.dcm")
    synthetic(tmp_path, "lab.dcm", InstitutionName="MISyn Generator Lab")  # the generating lab's name is no one's
    result = audit(tmp_path)
    assert result.status == Status.WARN
    assert result.metrics["n_files_with_identifying_attributes"] == 1
    [flag] = result.flagged
    assert flag["file"] == "named.dcm" and flag["level"] == "warn"
    assert flag["attribute"] == "PatientName, PatientID, PatientBirthDate"
    assert "match no real file" in flag["reason"]


def test_without_a_held_out_set_its_identifiers_cannot_be_seen(tmp_path: Path) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "name.dcm", PatientName="Okafor^Daniel")
    result = audit(tmp_path, holdout=False)
    assert result.status == Status.WARN  # present, but matching no real file it was given
    assert any("no held-out set was uploaded" in caveat for caveat in result.caveats)


def test_flags_cover_every_attribute_before_repeating_one(tmp_path: Path) -> None:
    write_real(tmp_path)
    for i in range(30):
        synthetic(tmp_path, f"s{i:02d}.dcm", StudyDate="20230105", PatientID="MRN204817")
    synthetic(tmp_path, "z_name.dcm", PatientName="Moreau^Claire^Anne")
    result = audit(tmp_path)
    assert result.metrics["n_shared_identifiers"] == 61
    assert len(result.flagged) == 50 and result.metrics["n_flagged_total"] == 61
    assert {"PatientName", "PatientID", "StudyDate"} <= {flag["attribute"] for flag in result.flagged[:3]}


# --------------------------------------------------------------------------- inputs


def test_the_reader_collects_every_value_compared(tmp_path: Path) -> None:
    write_real(tmp_path)
    record, _images = read_file(tmp_path / "real/train_001.dcm", "train_001.dcm", P)
    for attribute in privacy.ATTRIBUTES:
        assert attribute in record.header, attribute
    assert record.header["OtherPatientIDsSequence"] == ["OLD-5531"]
    assert record.header["StudyTime"] == "101530.123" and record.header["ContentDate"] == "20230106"
    json.dumps(record.header)


def test_the_suite_compares_with_the_held_out_set(tmp_path: Path) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "leak.dcm", PatientID="HX-99812")
    syn, ref, held = loaded(tmp_path)
    results = run_suite(synthetic=syn, reference=ref, holdout=held)
    assert results["privacy"].status == Status.FAIL
    assert flags(results["privacy"]) == {("leak.dcm", "PatientID", "held-out", "held_001.dcm")}


def test_reference_without_dicom_checks_attributes_only(tmp_path: Path) -> None:
    fx.write_png(tmp_path / "real/r.png")
    fx.write_dicom(tmp_path / "syn/a.dcm", "CT_small.dcm", fresh_uids=False)
    fx.write_png(tmp_path / "syn/b.png")
    result = audit(tmp_path, holdout=False)
    assert result.status == Status.WARN
    assert any("has no DICOM files" in caveat for caveat in result.caveats)
    assert any("non-DICOM" in caveat for caveat in result.caveats)
    assert privacy.run(read_folder(tmp_path / "syn", "synthetic", P), None).status == Status.WARN


def test_not_computable_without_dicom(tmp_path: Path) -> None:
    fx.write_png(tmp_path / "syn/a.png")
    fx.write_nifti(tmp_path / "syn/b.nii.gz", "slice")
    write_real(tmp_path)
    result = audit(tmp_path)
    assert result.status == Status.NOT_COMPUTABLE
    assert result.reason == "no DICOM files: header privacy checks apply to DICOM only"
    assert result.needed
    assert result.inputs["n_synthetic_accepted"] == 2


def test_extra_placeholder_words_and_bad_parameters(tmp_path: Path) -> None:
    write_real(tmp_path)
    synthetic(tmp_path, "a.dcm", PatientName="GENERATOR^ALPHA")
    assert audit(tmp_path).status == Status.WARN
    assert audit(tmp_path, placeholders=["generator", "alpha"]).status == Status.PASS
    with pytest.raises(ValueError, match="placeholders must be a list of words"):
        privacy.resolve_params({"placeholders": "generator"})
    with pytest.raises(ValueError, match="unknown privacy parameter"):
        privacy.resolve_params({"threshold": 1})
    assert privacy.THRESHOLDS == {}
    assert set(privacy.METRIC_LABELS) >= {"n_shared_identifiers", "n_files_with_identifying_attributes"}
