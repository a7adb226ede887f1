"""A1 disclosure: counts and statuses against hand counts on real-image-derived files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audits.engine import ENGINE_VERSION, disclosure
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import images_from_arrays, read_folder
from audits.engine.types import FLAGGED_LIMIT, Status
from tests.audits import images as fx

P = Preprocessing(size=16)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """14 files with known labels plus one rejected file."""
    root = tmp_path_factory.mktemp("mixed")
    fx.write_dicom(root / "dicom/yes_equipment.dcm", synthetic="YES", equipment=True)
    fx.write_dicom(root / "dicom/yes_bare.dcm", "CT_small.dcm", synthetic="YES", equipment=False)
    fx.write_dicom(
        root / "dicom/text.dcm", synthetic=None, equipment=False, DerivationDescription="synthetic image from a GAN"
    )
    fx.write_dicom(root / "dicom/no.dcm", synthetic="NO", equipment=False)
    fx.write_dicom(root / "dicom/missing.dcm", synthetic=None, equipment=False)
    fx.write_png(root / "png/xmp.png", label="xmp")
    fx.write_png(root / "png/dst.png", label="dst_text")
    fx.write_png(root / "png/text.png", label="text")
    fx.write_png(root / "png/none.png", label=None)
    fx.write_nifti(root / "nifti/ext.nii.gz", "slice", flag="extension")
    fx.write_nifti(root / "nifti/side.nii.gz", "slice", flag="sidecar")
    fx.write_nifti(root / "nifti/descrip.nii", "slice", flag="descrip")
    fx.write_nifti(root / "nifti/none.nii", "slice", flag=None)
    (root / "nifti/example4d.nii.gz").write_bytes(fx.EXAMPLE4D.read_bytes())
    fx.write_text_as_dcm(root / "broken.dcm")
    return root


def test_mixed_set_counts(mixed: Path) -> None:
    result = disclosure.run(read_folder(mixed, "synthetic", P))
    m = result.metrics
    assert m["n_files"] == 14 and m["n_rejected"] == 1
    assert m["by_format"] == {"dicom": 5, "nifti": 5, "png": 4}
    assert (m["n_synthetic_yes"], m["n_synthetic_no"], m["n_synthetic_missing"]) == (2, 1, 2)
    assert m["n_synthesizing_equipment"] == 1
    assert m["n_synthetic_yes_without_equipment"] == 1
    assert m["n_image_type_derived"] == 4  # MR_small is already DERIVED: informational only
    assert m["n_nonempty_patient_name"] == 5
    assert m["n_patient_id_matching_reference"] is None
    assert (m["n_iptc_trained_algorithmic"], m["n_text_flag_only"], m["n_png_unlabelled"]) == (2, 1, 1)
    assert (m["n_json_extension_flag"], m["n_sidecar_flag"], m["n_descrip_only"], m["n_nifti_unlabelled"]) == (
        1,
        1,
        1,
        2,
    )
    assert (m["n_marked"], m["n_text_only"], m["n_unmarked"]) == (6, 3, 5)
    assert m["frac_labelled_machine_readable"] == pytest.approx(6 / 14)
    assert result.status == Status.FAIL
    assert result.charts["by_format"] == [
        {"format": "dicom", "marked": 2, "text_only": 1, "unmarked": 2},
        {"format": "nifti", "marked": 2, "text_only": 1, "unmarked": 2},
        {"format": "png", "marked": 2, "text_only": 1, "unmarked": 1},
    ]
    assert result.charts["unmarked_files"] == [
        "dicom/missing.dcm",
        "dicom/no.dcm",
        "nifti/example4d.nii.gz",
        "nifti/none.nii",
        "png/none.png",
    ]
    # NO first, then unmarked, then text only, then YES without equipment
    assert result.flagged[0]["file"] == "dicom/no.dcm" and "is NO" in result.flagged[0]["reason"]
    assert [f["label"] for f in result.flagged].count("text_only") == 3
    assert result.flagged[-1]["file"] == "dicom/yes_bare.dcm"
    assert m["n_flagged_total"] == len(result.flagged) == 9
    assert result.code_version == ENGINE_VERSION
    assert result.inputs["n_synthetic_files"] == 15 and result.inputs["n_synthetic_accepted"] == 14
    assert result.params == {"pass_fraction": 1.0, "warn_fraction": 0.95}
    assert "total" in result.timings
    json.dumps(result.as_dict())


def write_marked(folder: Path, n: int) -> None:
    for i in range(n):
        fx.write_dicom(folder / f"s{i:02d}.dcm", synthetic="YES", equipment=True)


def test_all_marked_passes(tmp_path: Path) -> None:
    write_marked(tmp_path, 3)
    fx.write_png(tmp_path / "p.png", label="xmp")
    fx.write_nifti(tmp_path / "v.nii.gz", "volume", flag="sidecar")
    result = disclosure.run(read_folder(tmp_path, "synthetic", P))
    assert result.status == Status.PASS, result.summary
    assert result.metrics["frac_labelled_machine_readable"] == 1.0
    assert result.flagged == [] and result.metrics["n_flagged_total"] == 0


def test_one_unlabelled_in_twenty_warns_two_fail(tmp_path: Path) -> None:
    write_marked(tmp_path, 19)
    fx.write_png(tmp_path / "u1.png", label=None)
    result = disclosure.run(read_folder(tmp_path, "synthetic", P))
    assert result.metrics["frac_labelled_machine_readable"] == 0.95
    assert result.status == Status.WARN
    fx.write_png(tmp_path / "u2.png", label=None)
    result = disclosure.run(read_folder(tmp_path, "synthetic", P))
    assert result.metrics["frac_labelled_any"] == pytest.approx(19 / 21)
    assert result.status == Status.FAIL
    relaxed = disclosure.run(read_folder(tmp_path, "synthetic", P), {"warn_fraction": 0.9})
    assert relaxed.status == Status.WARN
    assert relaxed.params == {"pass_fraction": 1.0, "warn_fraction": 0.9}


def test_the_summary_counts_one_file_in_the_singular(tmp_path: Path) -> None:
    write_marked(tmp_path, 19)
    fx.write_png(tmp_path / "u1.png", label=None)
    summary = disclosure.run(read_folder(tmp_path, "synthetic", P)).summary
    assert "; 1 carries no label." in summary and "1 file lacks a machine-readable synthetic label" in summary
    fx.write_png(tmp_path / "u2.png", label=None)
    summary = disclosure.run(read_folder(tmp_path, "synthetic", P)).summary
    assert "; 2 carry no label." in summary and "2 files lack a machine-readable synthetic label" in summary


def test_free_text_labels_only_warn(tmp_path: Path) -> None:
    for i in range(3):
        fx.write_png(tmp_path / f"t{i}.png", label="text")
    fx.write_nifti(tmp_path / "d.nii", "slice", flag="descrip")
    result = disclosure.run(read_folder(tmp_path, "synthetic", P))
    assert result.metrics["frac_labelled_machine_readable"] == 0.0
    assert result.metrics["frac_labelled_any"] == 1.0
    assert result.status == Status.WARN


def test_a_single_synthetic_no_fails(tmp_path: Path) -> None:
    write_marked(tmp_path, 30)
    fx.write_dicom(tmp_path / "z.dcm", synthetic="NO")
    result = disclosure.run(read_folder(tmp_path, "synthetic", P))
    assert result.metrics["frac_labelled_any"] > 0.95
    assert result.status == Status.FAIL
    assert "SyntheticData = NO" in result.summary


def test_yes_without_equipment_warns(tmp_path: Path) -> None:
    fx.write_dicom(tmp_path / "a.dcm", synthetic="YES", equipment=False)
    result = disclosure.run(read_folder(tmp_path, "synthetic", P))
    assert result.metrics["frac_labelled_machine_readable"] == 1.0
    assert result.status == Status.WARN


def test_other_digital_source_type_is_not_a_mark(tmp_path: Path) -> None:
    capture = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    path = fx.write_png(tmp_path / "c.png", label=None, text={"DigitalSourceType": capture})
    result = disclosure.run(read_folder(path.parent, "synthetic", P))
    assert result.metrics["n_png_unlabelled"] == 1
    assert "digitalcapture" in result.flagged[0]["reason"]


def test_identity_leak_against_reference_fails(tmp_path: Path) -> None:
    fx.write_dicom(tmp_path / "syn/a.dcm", synthetic="YES")  # keeps MR_small's PatientID 4MR1
    fx.write_dicom(tmp_path / "real/r.dcm", synthetic=None, equipment=False)
    synthetic = read_folder(tmp_path / "syn", "synthetic", P)
    reference = read_folder(tmp_path / "real", "reference", P)
    assert disclosure.run(synthetic).status == Status.PASS
    result = disclosure.run(synthetic, reference=reference)
    assert result.metrics["n_patient_id_matching_reference"] == 1
    assert result.status == Status.FAIL
    assert result.flagged[0]["label"] == "identity_leak"
    assert "1 file carries a PatientID or PatientName of a real file" in result.summary


def test_flagged_is_capped_and_total_kept() -> None:
    arrays = [np.random.default_rng(i).random((8, 8)) for i in range(60)]
    result = disclosure.run(images_from_arrays("synthetic", arrays, None, P))
    assert result.status == Status.FAIL
    assert len(result.flagged) == FLAGGED_LIMIT
    assert result.metrics["n_flagged_total"] == 60
    assert len(result.charts["unmarked_files"]) == 60


def test_not_computable_without_accepted_files(tmp_path: Path) -> None:
    fx.write_random(tmp_path / "x.dcm")
    result = disclosure.run(read_folder(tmp_path, "synthetic", P))
    assert result.status == Status.NOT_COMPUTABLE
    assert result.reason == "all 1 files of the synthetic set were rejected"
    assert result.needed and result.code_version == ENGINE_VERSION
    empty = disclosure.run(images_from_arrays("synthetic", [], None, P))
    assert empty.status == Status.NOT_COMPUTABLE and empty.reason == "the synthetic set has no files"
