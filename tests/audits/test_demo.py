"""The demo image sets: the intended files, the intended audit outcomes, attached by setup_demo."""

from __future__ import annotations

import csv
import io

import pydicom
import pytest
from django.core.management import call_command
from PIL import Image

from audits import demo
from audits.cli import audit_paths
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import read_folder
from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from reviews.enums import ProjectStatus
from reviews.management.commands.setup_demo import ACCOUNTS as DEMO_ACCOUNTS
from reviews.management.commands.setup_demo import APPROVED_TITLE, DEMO_TITLE, SUBMITTED_TITLE
from reviews.models import AuditWaiver, Project, User

AUDIT_NAMES = ("disclosure", "privacy", "memorization", "fidelity", "representation", "manifest")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return demo.build_demo_sets(tmp_path_factory.mktemp("demo"))


def _audit(built):
    """The audits of a demo build, as `manage.py audit` runs them."""
    return audit_paths(
        synthetic=built["synthetic"],
        reference=built["reference"],
        holdout=built["holdout"],
        metadata=built["synthetic_metadata"],
        reference_metadata=built["reference_metadata"],
        manifest=built["manifest"],
    )


@pytest.fixture(scope="module")
def report(built):
    return _audit(built)


def _rows(path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_the_build_writes_three_sets_and_their_side_files(built):
    assert set(built) == {"reference", "holdout", "synthetic", "reference_metadata", "synthetic_metadata", "manifest"}
    params = Preprocessing()
    sets = {role: read_folder(built[role], role, params) for role in ("reference", "holdout", "synthetic")}
    for image_set in sets.values():
        assert all(record.accepted for record in image_set.files)
        assert not any(image.blank for image in image_set.images)
    assert [r.name for r in sets["reference"].files] == [f"real_{i:02d}.dcm" for i in range(0, 24, 2)]
    assert [r.name for r in sets["holdout"].files] == [f"real_{i:02d}.dcm" for i in range(1, 24, 2)]
    formats = [record.format for record in sets["synthetic"].files]
    assert (formats.count("dicom"), formats.count("png"), formats.count("nifti")) == (8, 5, 3)

    header = sets["reference"].files[0].header
    assert header["PatientID"] == "DEMO-001" and header["PatientSex"] == "F"
    assert "Real EPI slice 0 of volume 0" in header["ImageComments"]
    reference_ids = {r.header["PatientID"] for r in sets["reference"].files}
    holdout_ids = {r.header["PatientID"] for r in sets["holdout"].files}
    assert len(reference_ids) == 6 and len(holdout_ids) == 6 and not reference_ids & holdout_ids
    assert {r.header["InstitutionName"] for r in sets["reference"].files} == {site for site, _m, _n in demo.SITES}
    uids = [r.header["SOPInstanceUID"] for s in sets.values() for r in s.files if r.format == "dicom"]
    assert len(set(uids)) == len(uids)

    sexes = [row["sex"] for row in _rows(built["reference_metadata"])]
    assert sexes.count("F") == sexes.count("M") == 6
    synthetic_sexes = [row["sex"] for row in _rows(built["synthetic_metadata"])]
    assert synthetic_sexes.count("F") == 4 and len(synthetic_sexes) == 16
    manifest = _rows(built["manifest"])
    assert list(manifest[0]) == ["file", "generator", "version", "seed"]
    assert {row["file"] for row in manifest} == set(demo.SYNTHETIC) - demo.NOT_IN_MANIFEST
    assert len(manifest) == 13


def test_the_synthetic_files_carry_the_intended_labels(built):
    folder = built["synthetic"]
    labelled = pydicom.dcmread(folder / "synth_0001.dcm")
    assert labelled.SyntheticData == "YES"
    code = labelled.ContributingEquipmentSequence[0].PurposeOfReferenceCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "109100",
        "DCM",
        "Synthesizing Equipment",
    )
    assert "SyntheticData" not in pydicom.dcmread(folder / "synth_0010.dcm")
    with Image.open(folder / "synth_0005.png") as png:
        assert "trainedAlgorithmicMedia" in png.text["XML:com.adobe.xmp"]
    with Image.open(folder / "synth_0012.png") as png:
        assert png.text == {}
    records = {r.name: r for r in read_folder(folder, "synthetic", Preprocessing()).files}
    extension = records["synth_0008.nii.gz"].header["extensions"][0]
    assert extension["name"] == "comment" and extension["json"]["SyntheticData"] == "YES"
    assert {"synth_0010.dcm", "synth_0011.dcm", "synth_0012.png"} == demo.UNLABELLED


def test_the_build_is_deterministic(built, tmp_path):
    again = demo.build_demo_sets(tmp_path)
    for key in ("reference", "holdout", "synthetic"):
        first = {p.name: p.read_bytes() for p in built[key].iterdir()}
        second = {p.name: p.read_bytes() for p in again[key].iterdir()}
        assert first == second, key
    for key in ("reference_metadata", "synthetic_metadata", "manifest"):
        assert built[key].read_bytes() == again[key].read_bytes()


def test_the_engine_gives_the_intended_outcome_per_audit(report):
    results = report["results"]
    assert report["rejected"] == []

    disclosure = results["disclosure"]
    assert disclosure["status"] == "fail"
    assert {item["file"] for item in disclosure["flagged"]} == demo.UNLABELLED

    privacy = results["privacy"]
    assert privacy["status"] == "fail"
    assert [(item["file"], item["attribute"]) for item in privacy["flagged"]] == [
        (demo.PRIVACY_LEAK, "StudyInstanceUID")
    ]

    memorization = results["memorization"]
    assert memorization["status"] == "fail"
    assert memorization["metrics"]["baseline"] == "holdout"
    flagged = {item["synthetic_file"]: item for item in memorization["flagged"]}
    assert set(flagged) == set(demo.PLANTED_COPIES)
    for name, source in demo.PLANTED_COPIES.items():
        assert flagged[name]["reference_file"] == demo.reference_name(source)
    assert flagged["synth_0013.dcm"]["kind"] == "exact"
    assert memorization["metrics"]["n_probable_copies"] == len(demo.PLANTED_COPIES)

    assert results["fidelity"]["status"] in ("pass", "warn")

    representation = results["representation"]
    assert representation["status"] == "fail"
    assert representation["metrics"]["status_by_attribute"]["sex"] == "fail"
    assert representation["metrics"]["status_by_attribute"]["age_band"] == "pass"

    manifest = results["manifest"]
    assert manifest["status"] in ("warn", "fail")
    assert {item["file"] for item in manifest["flagged"]} == demo.NOT_IN_MANIFEST


@pytest.mark.django_db
def test_setup_demo_attaches_the_sets_and_queues_one_run(django_capture_on_commit_callbacks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False):
        call_command("setup_demo", stdout=out)
    project = Project.objects.get(title=DEMO_TITLE)
    sets = {s.role: s for s in ImageSet.objects.filter(project=project, is_current=True)}
    assert {role: (s.n_files, s.n_accepted) for role, s in sets.items()} == {
        SetRole.REFERENCE: (12, 12),
        SetRole.HOLDOUT: (12, 12),
        SetRole.SYNTHETIC: (16, 16),
    }
    assert sets[SetRole.SYNTHETIC].manifest_name == "manifest.csv"
    assert sets[SetRole.SYNTHETIC].metadata_name == "synthetic-metadata.csv"
    assert sets[SetRole.REFERENCE].metadata_name == "reference-metadata.csv"
    assert sets[SetRole.SYNTHETIC].files.get(name="synth_0004.dcm").header["SyntheticData"] == "YES"

    queued = AuditRun.objects.filter(project=project, status=RunStatus.QUEUED)
    assert queued.count() == 1
    assert set(queued.get().sets.all()) == set(sets.values())
    # The reference and held-out sets come first: without a synthetic set no run is queued.
    assert not AuditRun.objects.filter(project=project, status=RunStatus.CANCELLED).exists()
    assert "Demo image sets uploaded (3 sets)" in out.getvalue()
    # What else the demo sets up, checked here rather than in another run of it (tens of seconds):
    # no demo title names a status, and every demo account is confirmed and approved.
    titles = list(Project.objects.values_list("title", flat=True))
    assert titles and not [title for title in titles if "submitted" in title.lower() or "approved" in title.lower()]
    accounts = User.objects.filter(username__in=[account[0] for account in DEMO_ACCOUNTS])
    assert accounts.count() == len(DEMO_ACCOUNTS)
    assert not accounts.filter(email_verified_at__isnull=True).exists()
    assert not accounts.filter(approved_at__isnull=True).exists()

    # The approved project (the one the register and the board show a first visitor) passes
    # every audit on its clean synthetic set: approved by signatures alone, no waiver.
    approved = Project.objects.get(title=APPROVED_TITLE)
    assert approved.status == ProjectStatus.APPROVED
    run = AuditRun.objects.get(project=approved)
    assert run.status == RunStatus.SUCCEEDED
    assert {audit: result["status"] for audit, result in run.results.items()} == dict.fromkeys(AUDIT_NAMES, "pass")
    assert not AuditWaiver.objects.filter(round__project=approved).exists()
    clean = ImageSet.objects.get(project=approved, role=SetRole.SYNTHETIC, is_current=True)
    assert (clean.n_files, clean.n_accepted) == (24, 24)
    # The submitted project keeps the set with a planted problem per audit: its run, computed
    # as the worker will, still shows the failures a reviewer has to weigh.
    submitted = Project.objects.get(title=SUBMITTED_TITLE)
    failing = demo.run_demo_audits(submitted, submitted.owner)
    failing.refresh_from_db()
    statuses = {audit: result["status"] for audit, result in failing.results.items()}
    assert statuses == {**dict.fromkeys(AUDIT_NAMES, "fail"), "fidelity": statuses["fidelity"]}
    assert statuses["fidelity"] in ("pass", "warn")

    # A second setup changes nothing: the project already has its sets.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("setup_demo", stdout=io.StringIO())
    assert callbacks == []
    assert ImageSet.objects.filter(project=project).count() == 3
    assert AuditRun.objects.filter(project=project).count() == 1


def test_the_clean_build_passes_every_audit(tmp_path):
    """The approved project's sets: the same real sets, a synthetic set with none of the planted
    problems, labelled, listed, balanced like the reference and enough of it for the fidelity
    audit to find the reference covered."""
    built = demo.build_demo_sets(tmp_path, clean=True)
    report = _audit(built)
    assert report["rejected"] == []
    assert {audit: result["status"] for audit, result in report["results"].items()} == dict.fromkeys(
        AUDIT_NAMES, "pass"
    )
    fidelity = report["results"]["fidelity"]["metrics"]
    assert fidelity["n_synthetic_used"] == 24 and fidelity["coverage"] >= 0.8 and fidelity["precision"] >= 0.7
    records = read_folder(built["synthetic"], "synthetic", Preprocessing()).files
    formats = [record.format for record in records]
    assert (formats.count("dicom"), formats.count("png"), formats.count("nifti")) == (8, 8, 8)
    sexes = [row["sex"] for row in _rows(built["synthetic_metadata"])]
    assert sexes.count("F") == sexes.count("M") == 12
    assert {row["file"] for row in _rows(built["manifest"])} == set(demo.CLEAN_SYNTHETIC)
    # The real sets are the planted-problem build's, byte for byte.
    flawed = demo.build_demo_sets(tmp_path / "flawed")
    for key in ("reference", "holdout"):
        assert {p.name: p.read_bytes() for p in built[key].iterdir()} == {
            p.name: p.read_bytes() for p in flawed[key].iterdir()
        }


def test_the_nifti_flag_is_json(built):
    """The NIfTI comment extension is the JSON flag AUDITS.md recommends, with the generator and seed."""
    records = {r.name: r for r in read_folder(built["synthetic"], "synthetic", Preprocessing()).files}
    flag = records["synth_0009.nii.gz"].header["extensions"][0]["json"]
    assert flag["SyntheticData"] == "YES" and flag["Generator"] == demo.GENERATOR[0]
