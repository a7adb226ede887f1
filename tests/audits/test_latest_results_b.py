"""What the audits overview shows as the latest results, and a reference-only upload."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from audits.selectors import shown_results
from audits.services import runs
from audits.services.config import audit_config_update
from audits.services.uploads import image_set_upload
from reviews.services.projects import project_submit
from tests.audits.images import dicom_source
from tests.workflow import answer_everything

pytestmark = pytest.mark.django_db

RESULTS = {
    "disclosure": {"status": "fail", "summary": "2 of 3 files are not marked synthetic."},
    "privacy": {"status": "pass", "summary": "No identifying attributes left."},
}
CT = dicom_source("CT_small.dcm").read_bytes()


def _set(project, user, digest: str = "a" * 64) -> ImageSet:
    ImageSet.objects.filter(project=project, role=SetRole.SYNTHETIC).update(is_current=False)
    return ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=user, digest=digest, n_files=3, n_accepted=3
    )


def _finished_run(project, user) -> AuditRun:
    run = runs.audit_run_request(project=project, actor=user, reason="upload")
    AuditRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, results=RESULTS, finished_at=timezone.now())
    return run


def _overview(client, project) -> str:
    return client.get(reverse("audits-overview", kwargs={"pk": project.pk})).content.decode()


def test_while_a_newer_run_is_in_progress_the_last_finished_results_stay(client, project, researcher) -> None:
    _set(project, researcher)
    first = _finished_run(project, researcher)
    _set(project, researcher, digest="b" * 64)  # new images: a new run is queued
    second = runs.audit_run_request(project=project, actor=researcher, reason="synthetic set uploaded")
    AuditRun.objects.filter(pk=second.pk).update(status=RunStatus.RUNNING, progress=40, progress_message="Fidelity")

    shown = shown_results(project)
    assert shown is not None and shown.summary.run.pk == first.pk and not shown.current and shown.sets_changed
    client.force_login(researcher)
    html = _overview(client, project)
    assert "No finished audit run yet" not in html
    assert "Run #2</a> is running (40 %: Fidelity)" in html
    assert "Until it finishes, the results below are from run #1, over earlier image sets." in html
    assert "2 of 3 files are not marked synthetic." in html  # run #1's results, shown


def test_after_a_threshold_change_the_results_say_a_rerun_is_needed(client, project, researcher) -> None:
    _set(project, researcher)
    _finished_run(project, researcher)
    audit_config_update(project=project, actor=researcher, values={"disclosure": {"warn_fraction": 0.9}})

    shown = shown_results(project)
    assert shown is not None and not shown.current and shown.thresholds_changed and not shown.sets_changed
    client.force_login(researcher)
    html = _overview(client, project)
    assert "No finished audit run yet" not in html
    assert "The results below are from run #1, before the thresholds were changed" in html
    assert "Run the audits again to bring them up to date." in html

    # Once the re-run is queued, the page says so, with its progress.
    runs.audit_run_request(project=project, actor=researcher, reason="requested")
    html = _overview(client, project)
    assert "Run #2</a> is queued (0 %" in html and "before the thresholds were changed" in html


def test_results_over_the_current_inputs_need_no_notice(client, project, researcher) -> None:
    _set(project, researcher)
    _finished_run(project, researcher)
    shown = shown_results(project)
    assert shown is not None and shown.current
    client.force_login(researcher)
    html = _overview(client, project)
    assert "From <a" in html and "run #1</a>" in html
    assert "data-results-stale" not in html and "data-run-in-progress" not in html


def test_with_no_finished_run_the_page_says_so_and_shows_the_first_in_progress(client, project, researcher) -> None:
    _set(project, researcher)
    runs.audit_run_request(project=project, actor=researcher, reason="upload")
    client.force_login(researcher)
    html = _overview(client, project)
    assert "No run has finished yet; this one is the first." in html and "Run #1</a> is queued" in html


def test_a_reference_only_upload_queues_no_run_and_says_what_is_needed(client, project, researcher) -> None:
    reference = image_set_upload(
        actor=researcher,
        project=project,
        role=SetRole.REFERENCE,
        files=[SimpleUploadedFile("ct.dcm", CT)],
        ingest_now=True,
    )
    assert reference.is_current and not AuditRun.objects.filter(project=project).exists()
    client.force_login(researcher)
    html = client.get(reverse("imageset-detail", kwargs={"pk": project.pk, "set_pk": reference.pk})).content.decode()
    assert "the audits will run once a synthetic set is uploaded" in html
    assert "The audits will run once a synthetic image set is uploaded" in _overview(client, project)

    # Submitting without a synthetic set queues nothing either.
    answer_everything(project)
    project_submit(actor=researcher, project=project)
    assert not AuditRun.objects.filter(project=project).exists()


def test_the_synthetic_upload_then_queues_one_run_over_both_sets(project, researcher) -> None:
    image_set_upload(
        actor=researcher,
        project=project,
        role=SetRole.REFERENCE,
        files=[SimpleUploadedFile("ct.dcm", CT)],
        ingest_now=True,
    )
    synthetic = image_set_upload(
        actor=researcher,
        project=project,
        role=SetRole.SYNTHETIC,
        files=[SimpleUploadedFile("mr.dcm", CT)],
        ingest_now=True,
    )
    run = AuditRun.objects.get(project=project)
    assert run.status == RunStatus.QUEUED and run.number == 1
    assert {s.role for s in run.sets.all()} == {SetRole.REFERENCE, SetRole.SYNTHETIC} and synthetic.is_current
