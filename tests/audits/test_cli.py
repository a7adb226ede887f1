"""`manage.py audit`: the suite on local folders and archives of real images, with no database.

No test here is marked django_db: pytest-django refuses any database query, so each one
also shows that the command never touches the database.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from scipy.ndimage import rotate

from audits.cli import AuditInputError, audit_paths, format_report
from audits.engine.inputs import metadata_from_headers
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import NOT_AN_IMAGE, read_folder
from audits.engine.suite import AUDITS, run_suite
from tests.audits.images import dicom_pixels, example4d, to_uint16, write_dicom, write_nifti, write_png

ROOT = Path(__file__).resolve().parents[2]
IDENTIFYING = (
    *("PatientName", "PatientID", "OtherPatientIDsSequence", "InstitutionName", "ReferringPhysicianName"),
    *("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"),
    *("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime"),
)  # every value the privacy audit compares with the real CT's, besides the UIDs write_dicom renews
STATUS_WORDS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "not_computable": "NOT COMPUTABLE"}


def _epi(index: int) -> np.ndarray:
    return np.asarray(example4d()[:, :, index, 0])


def _new_pose(pixels: np.ndarray, angle: float, seed: int) -> np.ndarray:
    """A real slice turned a few degrees with fresh noise: new to the audit, like a generated image."""
    turned = rotate(pixels.astype(np.float64), angle, reshape=False, order=1)
    noise = np.random.default_rng(seed).normal(0.0, 0.02 * float(np.percentile(pixels, 99.5)), pixels.shape)
    return np.clip(turned + noise * (turned > 0), 0, None)


def build_sets(root: Path, *, problems: bool) -> dict[str, Path]:
    """Reference: CT_small and the even EPI slices of example4d; holdout: some odd slices;
    synthetic: other odd slices and CT_small in a new pose, all labelled, no identifiers.
    With `problems`: an exact copy of a reference slice, an unlabelled PNG and a text file."""
    reference, holdout, synthetic = (root / name for name in ("reference", "holdout", "synthetic"))
    write_dicom(reference / "real_ct.dcm", "CT_small.dcm", synthetic=None, equipment=False, fresh_uids=False)
    for index in range(0, 24, 2):
        write_png(reference / f"epi_{index:02d}.png", to_uint16(_epi(index)), label=None)
    for index in (1, 5, 9, 13, 17, 21):
        write_png(holdout / f"epi_{index:02d}.png", to_uint16(_epi(index)), label=None)
    ct = _new_pose(dicom_pixels("CT_small.dcm"), 5.0, seed=1)
    write_dicom(synthetic / "synth_ct.dcm", "CT_small.dcm", pixels=ct, **dict.fromkeys(IDENTIFYING))
    for position, index in enumerate((3, 7, 11, 15, 19)):
        pixels = _new_pose(_epi(index), 4.0 if position % 2 else -4.0, seed=10 + position)
        write_png(synthetic / f"synth_epi_{index:02d}.png", to_uint16(pixels))
    write_nifti(synthetic / "synth_epi_23.nii.gz", data=_new_pose(_epi(23), 5.0, seed=30).astype(np.int16))
    if problems:
        write_png(synthetic / "copy_epi_08.png", to_uint16(_epi(8)))  # the same pixels as reference epi_08.png
        write_png(synthetic / "unlabelled_epi_11.png", to_uint16(_new_pose(_epi(11), -6.0, seed=40)), label=None)
        (synthetic / "readme.dcm").write_text("not an image\n")
    return {"reference": reference, "holdout": holdout, "synthetic": synthetic}


@pytest.fixture(scope="module")
def clean_sets(tmp_path_factory) -> dict[str, Path]:
    return build_sets(tmp_path_factory.mktemp("clean"), problems=False)


@pytest.fixture(scope="module")
def problem_sets(tmp_path_factory) -> dict[str, Path]:
    return build_sets(tmp_path_factory.mktemp("problems"), problems=True)


@pytest.fixture(scope="module")
def problem_report(problem_sets) -> dict:
    return audit_paths(
        synthetic=problem_sets["synthetic"], reference=problem_sets["reference"], holdout=problem_sets["holdout"]
    )


def run_command(*args: object) -> tuple[int, str]:
    """call_command as the shell runs it: (exit code, stdout)."""
    out = io.StringIO()
    try:
        call_command("audit", *map(str, args), stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def archive_of(folder: Path, target: Path) -> Path:
    if target.name.endswith(".zip"):
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                archive.write(path, path.relative_to(folder).as_posix())
    else:
        with tarfile.open(target, "w:gz") as archive:
            for path in sorted(folder.rglob("*")):
                archive.add(path, path.relative_to(folder).as_posix(), recursive=False)
    return target


def _without_timings(results: dict) -> dict:
    return {name: {k: v for k, v in result.items() if k != "timings"} for name, result in results.items()}


# --------------------------------------------------------------------------- reports and exit codes


def test_a_set_with_planted_problems_fails_with_exit_code_1_and_a_readable_report(problem_sets):
    code, out = run_command(
        problem_sets["synthetic"], "--reference", problem_sets["reference"], "--holdout", problem_sets["holdout"]
    )
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("MISyn Review audit report")
    assert "disclosure: FAIL" in lines  # 1 of 9 files unlabelled
    assert "memorization: FAIL" in lines  # an exact copy
    assert "privacy: PASS" in lines
    # Only the one CT file's headers carry subgroup values: missing for 8 of 9 images warns (issue 8).
    assert "representation: WARN" in lines
    assert "manifest: NOT COMPUTABLE" in lines
    assert "  Needed: a generation manifest (CSV or JSON) with file, generator, version, seed" in lines
    for audit in AUDITS:
        assert sum(line.startswith(f"{audit}: ") for line in lines) == 1
    assert "    - copy_epi_08.png ~ epi_08.png: exact (NCC 1, L2 ratio 0)" in lines
    assert any(line.startswith("    - unlabelled_epi_11.png: no IPTC DigitalSourceType") for line in lines)
    assert "    frac_probable_copies = 0.1111" in lines
    assert "Rejected files: 1" in lines
    assert f"  - synthetic/readme.dcm: {NOT_AN_IMAGE}" in lines
    overall = next(line for line in lines if line.startswith("Overall: "))
    assert overall == "Overall: FAIL (2 pass, 1 warn, 2 fail, 1 not computable)", overall


def test_a_clean_set_exits_0_without_any_database(clean_sets):
    """A real subprocess pointed at a database that does not exist: the command never connects."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/no_such_database",
    }
    completed = subprocess.run(
        [sys.executable, "manage.py", "audit", clean_sets["synthetic"], "--reference", clean_sets["reference"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "disclosure: PASS" in completed.stdout.splitlines()
    assert "privacy: PASS" in completed.stdout.splitlines()
    assert "memorization: FAIL" not in completed.stdout
    assert "Rejected files: none" in completed.stdout
    assert completed.stderr == ""


def test_json_is_the_engines_results_with_the_rejected_files(problem_sets):
    code, out = run_command(
        problem_sets["synthetic"],
        "--reference",
        problem_sets["reference"],
        "--holdout",
        problem_sets["holdout"],
        "--json",
    )
    assert code == 1
    data = json.loads(out)
    assert data["overall"] == "fail"
    assert data["rejected"] == [{"set": "synthetic", "file": "readme.dcm", "reason": NOT_AN_IMAGE}]
    assert data["sets"]["synthetic"]["n_files"] == 10 and data["sets"]["synthetic"]["n_accepted"] == 9

    params = Preprocessing()
    sets = {role: read_folder(problem_sets[role], role, params) for role in ("synthetic", "reference", "holdout")}
    for engine_set in sets.values():
        engine_set.metadata = metadata_from_headers(engine_set)
    direct = run_suite(synthetic=sets["synthetic"], reference=sets["reference"], holdout=sets["holdout"])
    expected = json.loads(json.dumps({name: result.as_dict() for name, result in direct.items()}))
    assert list(data["results"]) == list(AUDITS)
    assert _without_timings(data["results"]) == _without_timings(expected)


def test_the_text_report_shows_every_status_line_and_at_most_ten_flagged_items(tmp_path, problem_sets):
    synthetic = tmp_path / "unlabelled"
    for index in range(12):
        write_png(synthetic / f"plain_{index:02d}.png", to_uint16(_new_pose(_epi(index), 3.0, seed=index)), label=None)
    report = audit_paths(synthetic=synthetic, reference=problem_sets["reference"])
    text = format_report(report)
    lines = text.splitlines()
    for name, result in report["results"].items():
        assert f"{name}: {STATUS_WORDS[result['status']]}" in lines
        assert f"  {result['summary']}" in lines
    assert "disclosure: FAIL" in lines
    assert "  Flagged (10 of 12 shown):" in lines
    start = lines.index("disclosure: FAIL")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" "))
    disclosure = "\n".join(lines[start:end])
    assert "plain_09.png" in disclosure and "plain_10.png" not in disclosure


# --------------------------------------------------------------------------- archives


@pytest.mark.parametrize("archive_name", ["synthetic.zip", "synthetic.tar.gz"])
def test_an_archive_gives_the_same_results_as_its_folder_and_leaves_no_temporary_files(
    tmp_path, monkeypatch, problem_sets, problem_report, archive_name
):
    archive = archive_of(problem_sets["synthetic"], tmp_path / archive_name)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    report = audit_paths(synthetic=archive, reference=problem_sets["reference"], holdout=problem_sets["holdout"])

    assert list(scratch.iterdir()) == []  # the extracted files are gone
    assert report["sets"]["synthetic"]["source"] == str(archive)
    assert report["sets"]["synthetic"]["digest"] == problem_report["sets"]["synthetic"]["digest"]
    assert report["rejected"] == problem_report["rejected"]
    assert _without_timings(report["results"]) == _without_timings(problem_report["results"])


def test_a_hostile_archive_is_refused_with_exit_code_2_and_nothing_is_written_outside(tmp_path):
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../escaped.dcm", b"DICM")
    with pytest.raises(CommandError) as caught:
        run_command(archive, "--reference", archive)
    assert caught.value.returncode == 2
    assert "the archive was refused" in str(caught.value)
    assert "points outside the archive's folder" in str(caught.value)
    assert not (tmp_path.parent / "escaped.dcm").exists()


# --------------------------------------------------------------------------- bad arguments


def test_a_missing_folder_is_a_usage_error_naming_it(tmp_path, clean_sets):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(CommandError) as caught:
        run_command(clean_sets["synthetic"], "--reference", missing)
    assert caught.value.returncode == 2
    assert str(caught.value) == f"--reference {missing}: no such folder or archive"


def test_a_file_that_is_not_an_archive_is_a_usage_error(tmp_path, clean_sets):
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not images\n")
    with pytest.raises(CommandError) as caught:
        run_command(notes, "--reference", clean_sets["reference"])
    assert caught.value.returncode == 2
    assert str(caught.value) == f"SYNTHETIC {notes}: not a folder, and not a zip or tar archive"


def test_a_malformed_metadata_csv_is_refused_naming_its_line(tmp_path, clean_sets):
    bad = tmp_path / "metadata.csv"
    bad.write_text("file,sex\nsynth_ct.dcm,F\nsynth_epi_03.png,M,extra\n")
    with pytest.raises(CommandError) as caught:
        run_command(clean_sets["synthetic"], "--reference", clean_sets["reference"], "--metadata", bad)
    assert caught.value.returncode == 2
    assert str(caught.value) == f"--metadata {bad}: metadata CSV, line 3: expected 2 fields, got 3"


def test_a_malformed_manifest_is_refused_naming_its_line(tmp_path, clean_sets):
    bad = tmp_path / "manifest.csv"
    bad.write_text("file,generator,version,seed\nsynth_ct.dcm,gan,1\n")
    with pytest.raises(CommandError) as caught:
        run_command(clean_sets["synthetic"], "--reference", clean_sets["reference"], "--manifest", bad)
    assert caught.value.returncode == 2
    assert "manifest CSV, line 2: expected 4 fields, got 3" in str(caught.value)


def test_usage_errors_exit_2_from_the_shell(tmp_path):
    """argparse's own errors (a missing --reference) and ours (a missing folder) both exit 2."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    missing = tmp_path / "gone"
    for args in ([str(missing)], [str(missing), "--reference", str(missing)]):
        completed = subprocess.run(
            [sys.executable, "manage.py", "audit", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert completed.returncode == 2, completed.stderr
        assert completed.stdout == ""
    assert f"{missing}: no such folder or archive" in completed.stderr


def test_metadata_and_manifest_feed_the_representation_and_manifest_audits(tmp_path, clean_sets):
    synthetic_names = sorted(p.name for p in clean_sets["synthetic"].iterdir())
    metadata = tmp_path / "synthetic.csv"
    metadata.write_text(
        "file,sex\n" + "".join(f"{name},{'F' if i < 2 else 'M'}\n" for i, name in enumerate(synthetic_names))
    )
    reference_metadata = tmp_path / "reference.csv"
    reference_names = sorted(p.name for p in clean_sets["reference"].iterdir())
    reference_metadata.write_text(
        "file,sex\n" + "".join(f"{name},{'F' if i % 2 else 'M'}\n" for i, name in enumerate(reference_names))
    )
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,generator,version,seed\n" + "".join(f"{n},gan,1.0,{i}\n" for i, n in enumerate(synthetic_names))
    )

    report = audit_paths(
        synthetic=clean_sets["synthetic"],
        reference=clean_sets["reference"],
        metadata=metadata,
        reference_metadata=reference_metadata,
        manifest=manifest,
        params={"representation": {"min_category_n": 5}},  # 7 synthetic images: judged only with a lower minimum
    )
    representation = report["results"]["representation"]
    assert representation["status"] == "fail"  # F: 2 of 7 synthetic (29 %) against 6 of 13 real (46 %)
    sex = representation["metrics"]["attributes"]["sex"]
    shares = dict(zip(sex["categories"], sex["synth_prop"], strict=True))
    assert shares["F"] == pytest.approx(2 / 7)
    assert report["results"]["manifest"]["status"] == "pass"
    assert report["notes"] == []


def test_a_value_map_merges_the_spellings_of_both_sets(tmp_path, clean_sets):
    """Synthetic rows say W and H, reference rows F and M: with the mapping, both sets are 50/50 F/M."""
    names = {role: sorted(p.name for p in clean_sets[role].iterdir()) for role in ("synthetic", "reference")}
    csv = {}
    for role, spelling in (("synthetic", "WH"), ("reference", "FM")):
        csv[role] = tmp_path / f"{role}.csv"
        csv[role].write_text("file,sex\n" + "".join(f"{n},{spelling[i % 2]}\n" for i, n in enumerate(names[role])))
    value_map = tmp_path / "map.csv"
    value_map.write_text("attribute,value,group\nsex,W,F\nsex,H,M\n")
    report = audit_paths(
        synthetic=clean_sets["synthetic"],
        reference=clean_sets["reference"],
        metadata=csv["synthetic"],
        reference_metadata=csv["reference"],
        value_map=value_map,
        params={"representation": {"min_category_n": 3}},
    )
    sex = report["results"]["representation"]["metrics"]["attributes"]["sex"]
    assert sex["categories"] == ["F", "M"]
    assert {row["value"]: row["group"] for row in sex["mapping"]} == {"F": "F", "W": "F", "H": "M", "M": "M"}
    value_map.write_text("attribute,value,group\nsex,W,F\nsex,w,M\n")
    with pytest.raises(AuditInputError, match=r"--value-map .*line 3: sex 'w' is mapped to 'F' on line 2"):
        audit_paths(synthetic=clean_sets["synthetic"], reference=clean_sets["reference"], value_map=value_map)
