"""The audits pages: who sees what, every audit page in every state, the run ledger's buttons,
thresholds and thumbnails. Runs are written directly with realistic results (no worker)."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image as PILImage
from PIL import Image as PillowImage
from pydicom.data import get_testdata_file

from audits import charts
from audits.enums import AuditName, RunStatus, SetRole
from audits.models import AuditRun, ImageFile, ImageSet
from audits.selectors import current_input_digest, current_params, current_sets, run_input_digest
from reviews.models import Project, User
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

AUDITS = AuditName.values
STATUSES = ("pass", "warn", "fail", "not_computable")
CT_SMALL = Path(get_testdata_file("CT_small.dcm", download=False))
SYNTHETIC_NAME = "synthetic/ct-generated-0001.dcm"
REJECTED_NAME = "synthetic/truncated-0002.dcm"
REFERENCE_NAME = "reference/patient-0007-ct.dcm"
FOREIGN_NAME = "otto/private-scan.dcm"


# ---------------------------------------------------------------------------------------
# Realistic results, shaped like the engine's AuditResult.as_dict()


def _charts(audit: str) -> dict[str, Any]:
    return {
        "disclosure": {
            "by_format": [
                {"format": "dicom", "marked": 118, "text_only": 0, "unmarked": 2},
                {"format": "png", "marked": 40, "text_only": 8, "unmarked": 0},
            ],
            "unmarked_files": ["synthetic/ct-generated-0099.dcm", "synthetic/ct-generated-0100.dcm"],
        },
        "privacy": {
            "by_attribute": [
                {"attribute": "PatientName", "present": 3, "shared_with_reference": 1},
                {"attribute": "InstitutionName", "present": 12, "shared_with_reference": 0},
                {"attribute": "StudyInstanceUID", "present": 120, "shared_with_reference": 2},
            ]
        },
        "memorization": {
            "synthetic_scores": [0.91, 0.93, 0.95, 0.962, 0.97, 0.996, 0.999],
            "baseline_scores": [0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.975],
            "synthetic_ratios": [0.05, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2],
            "baseline_ratios": [0.7, 0.85, 0.95, 1.0, 1.05, 1.2, 1.3],
            "threshold": 0.99,
            "near_copy_ratio": 0.3,
            "sampled": False,
            "closest_pairs": [
                {
                    "synthetic": SYNTHETIC_NAME,
                    "reference": REFERENCE_NAME,
                    "synthetic_file": SYNTHETIC_NAME,
                    "synthetic_index": 0,
                    "reference_file": REFERENCE_NAME,
                    "reference_index": 0,
                    "ncc": 0.999,
                    "ratio": 0.05,
                    "shift": [0, 0],
                    "transform": "flip_lr",
                    "align": "flip_lr",
                    "crop": {"scale": 0.8, "top": 0.1, "left": 0.05},
                    "transform_text": "mirrored left-right, cropped to 80 % of the side and resized",
                    "kind": "probable_copy",
                }
            ],
            "null_curve": {"x": [0.9, 0.95, 0.99], "density": [2.0, 10.0, 0.5], "cdf": [0.1, 0.6, 0.99]},
            "flagged_points": [{"label": SYNTHETIC_NAME, "ncc": 0.999, "p_value": 1e-05}],
            "per_image": [
                {"label": SYNTHETIC_NAME, "file": SYNTHETIC_NAME, "index": 0, "ncc": 0.999, "ratio": 0.05, "copy": True}
            ],
        },
        "fidelity": {
            "intensity_bins": [0.125, 0.375, 0.625, 0.875],
            "intensity_synthetic": [0.4, 0.3, 0.2, 0.1],
            "intensity_reference": [0.35, 0.3, 0.25, 0.1],
            "metrics_table": [
                {"metric": "w1_hist", "value": 0.012, "low": None, "high": None, "baseline": 0.004},
                {"metric": "fd", "value": 14.2, "low": 12.9, "high": 16.1, "baseline": 3.1},
                {"metric": "coverage", "value": 0.82, "low": None, "high": None, "baseline": 0.95},
            ],
            "projection": {
                "synthetic": [[0.1, 0.2], [0.3, -0.1], [1.2, 0.4]],
                "reference": [[0.0, 0.1], [0.2, -0.2], [-0.4, 0.3]],
                "method": "PCA of z-scored rad-lite-35 features",
                "explained_variance_ratio": [0.41, 0.22],
            },
        },
        "representation": {
            "attributes": [
                {
                    "attribute": "sex",
                    "kind": "categorical",
                    "categories": ["F", "M"],
                    "real_share": [0.48, 0.52],
                    "synthetic_share": [0.31, 0.69],
                    "gap": [-0.17, 0.17],
                    "real_counts": [48, 52],
                    "synthetic_counts": [31, 69],
                    "status": "fail",
                }
            ],
            "subgroup_metrics": [{"attribute": "sex", "category": "F", "n": 31, "copy_rate": 0.0, "coverage": 0.8}],
        },
        "manifest": {
            "coverage": {"listed": 150, "unlisted": 6, "incomplete": 4},
            "by_generator": [{"generator": "ddpm-ct", "version": "2.1", "files": 150}],
        },
    }[audit]


SUMMARIES = {
    "disclosure": "158 of 168 synthetic files are machine-readably marked synthetic; 2 DICOM files are not.",
    "privacy": "3 synthetic files carry a patient name; 2 share a Study Instance UID with a real file.",
    "memorization": (
        "1 of 7 synthetic images (14.29 %) are probable copies of 1 real image(s) (baseline: held-out real set)."
    ),
    "fidelity": "Frechet distance 14.2 is 4.6 times the real-vs-real baseline; coverage 0.82.",
    "representation": "sex: 31 % F among synthetic images against 48 % among real ones (TVD 0.17).",
    "manifest": "150 of 160 synthetic files are listed with generator, version and seed.",
}


def make_result(audit: str, status: str = "warn", *, with_charts: bool = True) -> dict[str, Any]:
    if status == "not_computable":
        return {
            "audit": audit, "status": status, "summary": "Not computable: no reference set was uploaded",
            "metrics": {}, "thresholds": {}, "flagged": [], "charts": {},
            "reason": "no reference set was uploaded", "needed": "a reference set of the real training images",
            "caveats": [], "inputs": {}, "params": {}, "code_version": "1.0.0", "timings": {},
        }  # fmt: skip
    return {
        "audit": audit,
        "status": status,
        "summary": SUMMARIES[audit],
        "metrics": {"n_synthetic_used": 7, "frac_probable_copies": 0.142857, "baseline": "holdout",
                    "attributes": {"sex": {"tvd": 0.17, "status": "fail"}}},
        "thresholds": {"frac_probable_copies": {"warn": 0.0, "fail": 0.01, "direction": "above"}},
        "flagged": [{"synthetic": SYNTHETIC_NAME, "reference": REFERENCE_NAME, "ncc": 0.999, "kind": "probable_copy"}],
        "charts": _charts(audit) if with_charts else {},
        "reason": "",
        "needed": "",
        "caveats": ["The features are the handcrafted rad-lite set: this is not FID."],
        "inputs": {"n_synthetic": 7, "synthetic_digest": "ab" * 32},
        "params": {"k": 5, "ncc_floor": 0.99},
        "code_version": "1.0.0",
        "timings": {"total": 0.4213},
    }  # fmt: skip


def all_results(status: str = "warn", **kwargs: Any) -> dict[str, Any]:
    return {audit: make_result(audit, status, **kwargs) for audit in AUDITS}


# ---------------------------------------------------------------------------------------
# Data


def add_set(project: Project, user: User, role: str, files: dict[str, bytes | str]) -> ImageSet:
    """A current set; a bytes value is a stored, accepted file, a str value a rejection reason."""
    accepted = [name for name, content in files.items() if isinstance(content, bytes)]
    image_set = ImageSet.objects.create(
        project=project, role=role, uploaded_by=user, digest=f"{role[:1]}{project.pk:063d}",
        n_files=len(files), n_accepted=len(accepted), n_images=len(accepted),
    )  # fmt: skip
    for name, content in files.items():
        image_file = ImageFile(image_set=image_set, name=name, size=0, sha256="c" * 64)
        if isinstance(content, bytes):
            image_file.size, image_file.format, image_file.width, image_file.height, image_file.slices = (
                len(content), "dicom", 128, 128, 1,
            )  # fmt: skip
            image_file.stored.save(name, ContentFile(content), save=False)
        else:
            image_file.error = content
        image_file.save()
    return image_set


def add_run(
    project: Project, *, status: str = RunStatus.SUCCEEDED, results: dict | None = None, **fields: Any
) -> AuditRun:
    now = timezone.now()
    final = status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
    run = AuditRun.objects.create(
        project=project,
        status=status,
        reason=fields.pop("reason", "synthetic set uploaded"),
        # By default a run over the project's current sets, so that its results are current.
        input_digest=fields.pop("input_digest", None) or current_input_digest(project),
        results=results if results is not None else (all_results() if status == RunStatus.SUCCEEDED else None),
        started_at=now if status != RunStatus.QUEUED else None,
        finished_at=now if final else None,
        progress=100 if final else fields.pop("progress", 0),
        **fields,
    )
    run.sets.set(ImageSet.objects.filter(project=project, is_current=True))
    return run


@dataclass
class World:
    project: Project
    synthetic: ImageSet
    reference: ImageSet
    run: AuditRun
    foreign: Project
    foreign_file: ImageFile

    @property
    def synthetic_file(self) -> ImageFile:
        return self.synthetic.files.get(name=SYNTHETIC_NAME)


@pytest.fixture
def world(project, researcher, other_researcher, catalogue) -> World:
    dicom = CT_SMALL.read_bytes()
    synthetic = add_set(
        project,
        researcher,
        SetRole.SYNTHETIC,
        {SYNTHETIC_NAME: dicom, REJECTED_NAME: "pixel data is shorter than the header says"},
    )
    reference = add_set(project, researcher, SetRole.REFERENCE, {REFERENCE_NAME: dicom})
    run = add_run(project)
    foreign = ProjectFactory(owner=other_researcher, guideline_version=catalogue, title="Otto's confidential project")
    foreign_set = add_set(foreign, other_researcher, SetRole.SYNTHETIC, {FOREIGN_NAME: dicom})
    return World(project, synthetic, reference, run, foreign, foreign_set.files.get())


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def page_urls(w: World) -> dict[str, str]:
    pk, run = w.project.pk, w.run.pk
    urls = {
        "audits-overview": reverse("audits-overview", kwargs={"pk": pk}),
        "imageset-detail": reverse("imageset-detail", kwargs={"pk": pk, "set_pk": w.synthetic.pk}),
        "audit-thresholds": reverse("audit-thresholds", kwargs={"pk": pk}),
        "audit-run": reverse("audit-run", kwargs={"pk": pk, "run_pk": run}),
        "audit-run-status": reverse("audit-run-status", kwargs={"pk": pk, "run_pk": run}),
        "image-thumbnail": reverse("image-thumbnail", kwargs={"pk": pk, "file_pk": w.synthetic_file.pk, "index": 0}),
    }
    for audit in AUDITS:
        urls[f"audit-result:{audit}"] = reverse("audit-result", kwargs={"pk": pk, "run_pk": run, "audit": audit})
    return urls


# ---------------------------------------------------------------------------------------
# Who sees what


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_the_owner_and_admins_see_every_page(world, researcher, admin_user, role):
    client = client_for(researcher if role == "owner" else admin_user)
    for name, url in page_urls(world).items():
        response = client.get(url)
        assert response.status_code == 200, name
        if name == "image-thumbnail":
            assert response["Content-Type"] == "image/png"
        elif name == "audit-run-status":
            assert response.json()["status"] == "succeeded"
        else:
            assert world.project.title in response.content.decode(), name


@pytest.mark.parametrize("role", ["other", "reviewer"])
def test_outsiders_get_404_and_no_byte_of_the_project(world, other_researcher, reviewer, role):
    """Another researcher, and a reviewer before any assignment exists, see nothing at all."""
    client = client_for(other_researcher if role == "other" else reviewer)
    secrets = [world.project.title, SYNTHETIC_NAME, REJECTED_NAME, REFERENCE_NAME, SUMMARIES["memorization"]]
    for name, url in page_urls(world).items():
        response = client.get(url)
        body = response.content.decode(errors="replace")
        assert response.status_code == 404, name
        assert not [secret for secret in secrets if secret in body], name
        assert not body.startswith("\x89PNG")


def test_anonymous_visitors_are_sent_to_log_in(world):
    for name, url in page_urls(world).items():
        response = Client().get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login")) and "next=" in response["Location"]


# ---------------------------------------------------------------------------------------
# The overview


def test_overview_lists_sets_latest_results_and_history(client, world, researcher):
    add_run(world.project, status=RunStatus.RUNNING, results=None, progress=40, progress_message="Read 2 of 5 chunks")
    client.force_login(researcher)
    page = client.get(reverse("audits-overview", kwargs={"pk": world.project.pk})).content.decode()

    assert "Synthetic set" in page and "Reference set (real training images)" in page
    assert "Held-out real set" in page and "Not uploaded" in page  # the optional role is explained
    assert world.synthetic.digest[:12] in page
    assert 'class="text-danger fw-semibold">1 rejected<' in page
    for summary in SUMMARIES.values():
        assert summary in page
    assert page.count("text-bg-warning") >= 6
    assert "is running (40 %: Read 2 of 5 chunks)" in page
    assert f"Until it finishes, the results below are from run #{world.run.number}." in page
    assert reverse("audit-run-start", kwargs={"pk": world.project.pk}) in page
    assert reverse("imageset-upload", kwargs={"pk": world.project.pk}) in page
    assert reverse("audit-thresholds", kwargs={"pk": world.project.pk}) in page


def test_admins_may_run_audits_but_not_upload(client, world, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("audits-overview", kwargs={"pk": world.project.pk})).content.decode()
    assert "Run audits again" in page
    assert reverse("imageset-upload", kwargs={"pk": world.project.pk}) not in page


def test_overview_of_a_project_without_sets_or_runs(client, project, researcher):
    client.force_login(researcher)
    page = client.get(reverse("audits-overview", kwargs={"pk": project.pk})).content.decode()
    assert "No finished audit run yet. The audits will run once a synthetic image set is uploaded" in page
    assert "No audit run yet." in page
    assert re.search(r"<button[^>]*disabled[^>]*>.*Run audits again", page, re.S)


def test_a_failed_latest_run_is_shown_with_its_reason(client, world, researcher):
    add_run(world.project, status=RunStatus.FAILED, error="The worker was lost 3 times (lease expired); giving up.")
    client.force_login(researcher)
    page = client.get(reverse("audits-overview", kwargs={"pk": world.project.pk})).content.decode()
    assert "failed: The worker was lost 3 times" in page
    assert "The results below are from an earlier run." in page


@pytest.mark.parametrize("count", [1, 25])
def test_overview_query_count_does_not_grow_with_runs(client, django_assert_num_queries, world, researcher, count):
    """Session, user, project, current sets (uploader joined), history count, one page of history
    (statuses read from the JSON), the latest run, the latest finished run's statuses and sentences."""
    for _ in range(count - 1):
        add_run(world.project)
    client.force_login(researcher)
    with django_assert_num_queries(11):  # +2: current sets and thresholds give the current digest; +1 the bell
        response = client.get(reverse("audits-overview", kwargs={"pk": world.project.pk}))
    assert response.content.decode().count('href="/projects/') > count


# ---------------------------------------------------------------------------------------
# The image set page


def test_image_set_lists_rejected_files_first_with_their_reason(client, world, researcher):
    client.force_login(researcher)
    page = client.get(
        reverse("imageset-detail", kwargs={"pk": world.project.pk, "set_pk": world.synthetic.pk})
    ).content.decode()
    assert page.index(REJECTED_NAME) < page.index(SYNTHETIC_NAME)
    assert "Rejected: pixel data is shorter than the header says" in page
    assert "128 \u00d7 128" in page and "DICOM" in page


def test_image_set_pages_200_files_at_a_time(client, django_assert_num_queries, world, researcher):
    ImageFile.objects.bulk_create(
        ImageFile(
            image_set=world.synthetic, name=f"synthetic/extra-{n:04d}.dcm", size=1, sha256="e" * 64, format="dicom"
        )
        for n in range(250)
    )
    client.force_login(researcher)
    url = reverse("imageset-detail", kwargs={"pk": world.project.pk, "set_pk": world.synthetic.pk})
    with django_assert_num_queries(7):  # session, user, bell, project, set, file count, one page of files
        first = client.get(url).content.decode()
    second = client.get(url + "?page=2").content.decode()
    assert first.count("synthetic/extra-") == 198 and REJECTED_NAME in first
    assert second.count("synthetic/extra-") == 52 and "Page 2 of 2" in second


def test_a_set_of_another_project_is_not_found(client, world, researcher):
    foreign_set = world.foreign_file.image_set
    client.force_login(researcher)
    response = client.get(reverse("imageset-detail", kwargs={"pk": world.project.pk, "set_pk": foreign_set.pk}))
    assert response.status_code == 404 and FOREIGN_NAME not in response.content.decode()


# ---------------------------------------------------------------------------------------
# Every audit page in every state


def _chart_blocks(page: str) -> list[dict[str, Any]]:
    blocks = re.findall(r'<script id="(chart-[^"]+)" type="application/json">(.*?)</script>', page, re.S)
    figures = []
    for element_id, text in blocks:
        assert f'data-chart="{element_id}"' in page
        figures.append(json.loads(text))
    return figures


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("audit", AUDITS)
def test_each_audit_page_renders_in_each_state(client, world, researcher, audit, status):
    run = add_run(world.project, results={audit: make_result(audit, status)})
    client.force_login(researcher)
    response = client.get(reverse("audit-result", kwargs={"pk": world.project.pk, "run_pk": run.pk, "audit": audit}))
    page = response.content.decode()

    assert response.status_code == 200
    label = {"pass": "Pass", "warn": "Warning", "fail": "Fail", "not_computable": "Not computable"}[status]
    assert f"</i> {label}</span>" in page
    figures = _chart_blocks(page)
    if status == "not_computable":
        assert "No reference set was uploaded" in page and "a reference set of the real training images" in page
        assert figures == [] and "plotly.min.js" not in page
    else:
        assert SUMMARIES[audit] in page
        assert figures and all(figure["data"] for figure in figures)
        assert "plotly.min.js" in page and 'id="plotly.js-style-global" class="no-inline-styles"' in page
        assert "frac_probable_copies" in page and "worse when higher" in page
        assert "The features are the handcrafted rad-lite set" in page
        assert "1.0.0" in page and "0.42 s" in page and "abababababab…" in page


@pytest.mark.parametrize("audit", AUDITS)
def test_audit_pages_without_chart_data_show_no_chart(client, world, researcher, audit):
    run = add_run(world.project, results={audit: make_result(audit, "pass", with_charts=False)})
    client.force_login(researcher)
    page = client.get(
        reverse("audit-result", kwargs={"pk": world.project.pk, "run_pk": run.pk, "audit": audit})
    ).content.decode()
    assert SUMMARIES[audit] in page and _chart_blocks(page) == []


GARBAGE = {
    "disclosure": {"by_format": "dicom", "unmarked_files": 7},
    "privacy": {"by_attribute": [1, None, {"attribute": None, "present": "many"}]},
    "memorization": {"synthetic_scores": "0.9", "threshold": "high", "closest_pairs": [{"ncc": 1}, "x"]},
    "fidelity": {"metrics_table": [1, 2], "intensity_bins": [0.5], "intensity_synthetic": [1, 2], "projection": "x"},
    "representation": {"attributes": {"sex": 1}, "subgroup_metrics": "none"},
    "manifest": {"coverage": [1, 2], "by_generator": None},
}


@pytest.mark.parametrize("audit", AUDITS)
def test_chart_data_in_an_unexpected_shape_is_left_out_not_an_error(client, world, researcher, audit):
    result = make_result(audit, "warn")
    result["charts"] = GARBAGE[audit]
    result["metrics"] = {"odd": None, "huge": 1e300, "nested": {"a": [1, 2, 3] * 10, "b": {"c": {"d": {"e": 1}}}}}
    run = add_run(world.project, results={audit: result})
    client.force_login(researcher)
    response = client.get(reverse("audit-result", kwargs={"pk": world.project.pk, "run_pk": run.pk, "audit": audit}))
    assert response.status_code == 200
    for figure in _chart_blocks(response.content.decode()):
        charts.dumps(figure)  # strict JSON: no NaN or Infinity reaches the browser


def test_memorization_page_shows_the_closest_pairs_as_thumbnails(client, world, researcher):
    client.force_login(researcher)
    page = client.get(
        reverse("audit-result", kwargs={"pk": world.project.pk, "run_pk": world.run.pk, "audit": "memorization"})
    ).content.decode()
    reference_file = world.reference.files.get()
    synthetic_url = reverse(
        "image-thumbnail", kwargs={"pk": world.project.pk, "file_pk": world.synthetic_file.pk, "index": 0}
    )
    reference_url = reverse(
        "image-thumbnail", kwargs={"pk": world.project.pk, "file_pk": reference_file.pk, "index": 0}
    )
    assert f'<img src="{synthetic_url}"' in page
    # the copy is shown turned back and beside the region of the real image it matches
    aligned_url = f"{synthetic_url}?align=flip_lr"
    region_url = f"{reference_url}?crop=0.1000%2C0.0500%2C0.8000"
    assert f'<img src="{aligned_url}"' in page and f'<img src="{region_url}"' in page
    assert "Copy mirrored left-right, cropped to 80 % of the side and resized" in page
    assert "probable copy" in page and "similarity</abbr> 0.9990" in page
    for url in (synthetic_url, aligned_url, region_url):
        answer = client.get(url)
        assert answer.status_code == 200 and answer["Content-Type"] == "image/png"
    plain = PILImage.open(io.BytesIO(client.get(synthetic_url).content))
    turned = PILImage.open(io.BytesIO(client.get(aligned_url).content))
    assert turned.size == plain.size  # mirrored: the same aspect
    for bad in ("?align=spin", "?crop=1,2", "?crop=0,0,0.1", "?crop=a,b,c"):
        assert client.get(synthetic_url + bad).status_code == 400


def test_the_histogram_is_binned_on_the_server_with_the_threshold_line(world):
    figures = charts.figures("memorization", make_result("memorization"))
    histogram = next(f for f in figures if f.key == "memorization-ncc").figure
    assert [trace["type"] for trace in histogram["data"]] == ["bar", "bar", "scatter", "scatter"]
    null_line, flagged = histogram["data"][2], histogram["data"][3]
    assert null_line["x"] == [0.9, 0.95, 0.99]
    assert all(0.0 <= share <= 1.0 for share in null_line["y"])  # a share per bar, on the bars' scale
    assert flagged["x"] == [0.999] and "p = 1e-05" in flagged["text"][0]
    assert len(histogram["data"][0]["x"]) == 10  # 7 images: the fewest bins
    large = make_result("memorization")
    large["charts"]["synthetic_scores"] = [0.9 + i / 100_000 for i in range(5000)]
    large_histogram = next(f for f in charts.figures("memorization", large) if f.key == "memorization-ncc").figure
    assert len(large_histogram["data"][0]["x"]) == charts.HISTOGRAM_BINS
    assert sum(histogram["data"][0]["y"]) == pytest.approx(1.0)
    assert histogram["layout"]["shapes"][0]["x0"] == 0.99


def test_unknown_audit_names_and_runs_of_other_projects_are_not_found(client, world, researcher, other_researcher):
    client.force_login(researcher)
    pk = world.project.pk
    assert client.get(f"/projects/{pk}/audits/runs/{world.run.pk}/nosuchaudit/").status_code == 404
    assert client.get(f"/projects/{pk}/audits/runs/{world.run.pk}/%3Cscript%3E/").status_code == 404
    foreign_run = add_run(world.foreign)
    for url in (
        reverse("audit-run", kwargs={"pk": pk, "run_pk": foreign_run.pk}),
        reverse("audit-run-status", kwargs={"pk": pk, "run_pk": foreign_run.pk}),
        reverse("audit-result", kwargs={"pk": pk, "run_pk": foreign_run.pk, "audit": "privacy"}),
    ):
        assert client.get(url).status_code == 404


def test_a_result_page_of_an_unfinished_run_goes_to_the_run(client, world, researcher):
    run = add_run(world.project, status=RunStatus.RUNNING, results=None)
    client.force_login(researcher)
    response = client.get(
        reverse("audit-result", kwargs={"pk": world.project.pk, "run_pk": run.pk, "audit": "privacy"})
    )
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()


# ---------------------------------------------------------------------------------------
# The run page and its status


def test_a_running_run_shows_a_progress_bar_that_polls_its_status(client, world, researcher):
    run = add_run(
        world.project, status=RunStatus.RUNNING, results=None, progress=42, progress_message="Read 1 of 2 chunks"
    )
    client.force_login(researcher)
    page = client.get(run.get_absolute_url()).content.decode()
    status_url = reverse("audit-run-status", kwargs={"pk": world.project.pk, "run_pk": run.pk})
    assert f'data-status-url="{status_url}"' in page
    assert "w-pct-40" in page and 'aria-valuenow="42"' in page and "Read 1 of 2 chunks" in page
    assert "/static/js/audits.js" in page and "<script>" not in page

    state = client.get(status_url).json()
    assert state == {
        "status": "running", "status_label": "Running", "progress": 42, "message": "Read 1 of 2 chunks",
        "finished": False, "audits": {},
    }  # fmt: skip


def test_the_status_of_a_finished_run_lists_each_audit(client, world, researcher):
    results = all_results("pass")
    results["memorization"] = make_result("memorization", "fail")
    run = add_run(world.project, results=results)
    client.force_login(researcher)
    response = client.get(reverse("audit-run-status", kwargs={"pk": world.project.pk, "run_pk": run.pk}))
    state = response.json()
    assert response["Cache-Control"] == "no-store"
    assert state["finished"] is True and state["progress"] == 100
    assert state["audits"] == {audit: ("fail" if audit == "memorization" else "pass") for audit in AUDITS}


def test_a_finished_run_shows_one_card_per_audit(client, world, researcher):
    client.force_login(researcher)
    page = client.get(world.run.get_absolute_url()).content.decode()
    assert page.count("audit-card ") == 6
    for audit in AUDITS:
        assert reverse("audit-result", kwargs={"pk": world.project.pk, "run_pk": world.run.pk, "audit": audit}) in page
    assert "run-progress" not in page


def test_a_failed_run_shows_its_error_and_a_reused_run_its_source(client, world, researcher):
    failed = add_run(world.project, status=RunStatus.FAILED, error="Time limit of 1200 s exceeded.")
    reused = add_run(world.project, reused_from=world.run)
    client.force_login(researcher)
    assert "Time limit of 1200 s exceeded." in client.get(failed.get_absolute_url()).content.decode()
    page = client.get(reused.get_absolute_url()).content.decode()
    assert f"run #{world.run.number}</a>: its results are reused" in page


# ---------------------------------------------------------------------------------------
# Running the audits again


def _start(client: Client, project: Project):
    return client.post(reverse("audit-run-start", kwargs={"pk": project.pk}))


def test_run_again_queues_a_run_and_sends_it_after_the_commit(
    client, world, researcher, django_capture_on_commit_callbacks
):
    AuditRun.objects.filter(pk=world.run.pk).update(input_digest="d" * 64)  # a run over older inputs
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _start(client, world.project)
    run = AuditRun.objects.filter(project=world.project).order_by("-pk").first()
    assert run.status == RunStatus.QUEUED and run.reason == f"requested by {researcher.display_name}"
    assert response["Location"] == run.get_absolute_url() and len(callbacks) == 1
    page = client.get(response["Location"]).content.decode()
    assert f"Audit run #{run.number} is queued" in page

    # A second click while it waits gives the same run, and says so.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = _start(client, world.project)
    assert again["Location"] == run.get_absolute_url() and callbacks == []
    assert "already under way" in client.get(again["Location"]).content.decode()


def test_run_again_on_the_same_inputs_reuses_the_results(client, world, researcher, django_capture_on_commit_callbacks):
    digest = run_input_digest(current_sets(world.project), current_params(world.project))
    AuditRun.objects.filter(pk=world.run.pk).update(input_digest=digest)
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _start(client, world.project)
    run = AuditRun.objects.filter(project=world.project).order_by("-pk").first()
    assert run.reused_from_id == world.run.pk and run.status == RunStatus.SUCCEEDED and callbacks == []
    page = client.get(response["Location"]).content.decode()
    assert f"Nothing changed since run #{world.run.number}: its results are reused in run #{run.number}." in page


def test_run_again_without_a_synthetic_set_asks_for_one(client, project, researcher):
    client.force_login(researcher)
    response = _start(client, project)
    assert response["Location"] == reverse("audits-overview", kwargs={"pk": project.pk})
    assert not AuditRun.objects.filter(project=project).exists()
    assert "Upload a synthetic image set first" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("role", ["other", "reviewer"])
def test_outsiders_cannot_start_a_run(world, other_researcher, reviewer, role):
    before = AuditRun.objects.count()
    response = _start(client_for(other_researcher if role == "other" else reviewer), world.project)
    assert response.status_code == 404 and AuditRun.objects.count() == before


def test_run_again_is_post_only(client, world, researcher):
    client.force_login(researcher)
    assert client.get(reverse("audit-run-start", kwargs={"pk": world.project.pk})).status_code == 405


# ---------------------------------------------------------------------------------------
# Thumbnails


def test_a_thumbnail_is_a_small_grey_png_for_the_browser_only(client, world, researcher):
    client.force_login(researcher)
    url = reverse("image-thumbnail", kwargs={"pk": world.project.pk, "file_pk": world.synthetic_file.pk, "index": 0})
    response = client.get(url)
    picture = PillowImage.open(io.BytesIO(response.content))
    assert picture.format == "PNG" and picture.mode == "L" and max(picture.size) <= 256
    assert picture.size == (256, 256)  # CT_small is 128 x 128: square, enlarged to the thumbnail size
    assert len(set(picture.tobytes())) > 10  # an image, not a blank square
    assert response["Cache-Control"] == "private, max-age=86400"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline;")


def test_a_thumbnail_of_another_projects_file_is_not_found(client, world, researcher):
    """The owner's project id with Otto's file id: the file is looked up inside the project."""
    client.force_login(researcher)
    url = reverse("image-thumbnail", kwargs={"pk": world.project.pk, "file_pk": world.foreign_file.pk, "index": 0})
    response = client.get(url)
    assert response.status_code == 404 and not response.content.startswith(b"\x89PNG")
    foreign = reverse("image-thumbnail", kwargs={"pk": world.foreign.pk, "file_pk": world.foreign_file.pk, "index": 0})
    assert client.get(foreign).status_code == 404


def test_thumbnails_of_rejected_files_and_missing_slices_are_not_found(client, world, researcher):
    client.force_login(researcher)
    rejected = world.synthetic.files.get(name=REJECTED_NAME)
    for file_pk, index in ((rejected.pk, 0), (world.synthetic_file.pk, 1), (world.synthetic_file.pk, 10**12)):
        url = reverse("image-thumbnail", kwargs={"pk": world.project.pk, "file_pk": file_pk, "index": index})
        assert client.get(url).status_code == 404


# ---------------------------------------------------------------------------------------
# Computed evidence on the checklist


def test_checklist_items_bound_to_an_audit_link_to_its_latest_result(client, world, researcher):
    older = add_run(world.project, results=all_results("pass"))
    AuditRun.objects.filter(pk=older.pk).update(finished_at=timezone.now() - timedelta(days=1))
    add_run(world.project, status=RunStatus.RUNNING, results=None)  # not finished: not evidence yet
    client.force_login(researcher)
    page = client.get(reverse("project-checklist", kwargs={"pk": world.project.pk})).content.decode()

    memorization_url = reverse(
        "audit-result", kwargs={"pk": world.project.pk, "run_pk": world.run.pk, "audit": "memorization"}
    )
    assert page.count("computed evidence") == 12  # the catalogue binds 12 items to an audit
    assert page.count(f'href="{memorization_url}"') == 2  # EV-4 and DS-8
    assert SUMMARIES["memorization"] in page  # as the link's title

    answer = client.get(reverse("answer-edit", kwargs={"pk": world.project.pk, "code": "EV-4"})).content.decode()
    assert f'href="{memorization_url}"' in answer and "computed evidence" in answer
    plain = client.get(reverse("answer-edit", kwargs={"pk": world.project.pk, "code": "PF-1"})).content.decode()
    assert "computed evidence" not in plain


def test_the_badges_cost_a_fixed_number_of_queries_however_many_runs_and_items(
    client, django_assert_num_queries, world, researcher
):
    """The counts of tests/reviews/test_query_counts.py (no answers yet), with runs present."""
    from tests.reviews.test_query_counts import ANSWER_PAGE, CHECKLIST, WITHOUT_ANSWERS

    for _ in range(5):
        add_run(world.project)
    client.force_login(researcher)
    with django_assert_num_queries(CHECKLIST + WITHOUT_ANSWERS):
        client.get(reverse("project-checklist", kwargs={"pk": world.project.pk}))
    with django_assert_num_queries(ANSWER_PAGE + WITHOUT_ANSWERS):
        client.get(reverse("answer-edit", kwargs={"pk": world.project.pk, "code": "EV-4"}))


def test_a_slice_of_a_nifti_series_is_served_as_its_thumbnail(client, world, researcher, tmp_path):
    from audits.engine.readers.nifti import read_nifti_slice
    from tests.audits.images import write_nifti

    series = write_nifti(tmp_path / "series.nii.gz", kind="4d", flag=None)
    image_file = ImageFile(image_set=world.synthetic, name="series.nii.gz", size=series.stat().st_size, sha256="f" * 64)
    image_file.format, image_file.width, image_file.height, image_file.slices = "nifti", 128, 96, 48
    image_file.stored.save("series.nii.gz", ContentFile(series.read_bytes()), save=False)
    image_file.save()
    client.force_login(researcher)
    url = reverse("image-thumbnail", kwargs={"pk": world.project.pk, "file_pk": image_file.pk, "index": 30})
    picture = PillowImage.open(io.BytesIO(client.get(url).content))
    assert picture.format == "PNG" and picture.size == (256, 192)  # 96 x 128 once oriented, aspect kept
    assert len(set(picture.tobytes())) > 10
    assert read_nifti_slice(Path(image_file.stored.path), 48) is None
    missing = reverse("image-thumbnail", kwargs={"pk": world.project.pk, "file_pk": image_file.pk, "index": 48})
    assert client.get(missing).status_code == 404
