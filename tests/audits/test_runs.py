"""The audit-run ledger: one final state and one result whatever the deliveries (no worker here)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from audits.services import runs
from reviews.models import ActivityEntry

pytestmark = pytest.mark.django_db

RESULTS = {"disclosure": {"status": "pass", "summary": "All 3 files are marked synthetic."}}


def _set(project, user, role=SetRole.SYNTHETIC, digest="a" * 64) -> ImageSet:
    return ImageSet.objects.create(project=project, role=role, uploaded_by=user, digest=digest, n_files=3, n_accepted=3)


def test_a_request_queues_one_run_and_sends_its_message_only_on_commit(
    project, researcher, django_capture_on_commit_callbacks
):
    _set(project, researcher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = runs.audit_run_request(project=project, actor=researcher, reason="synthetic set uploaded")
    assert run.status == RunStatus.QUEUED and run.sets.count() == 1
    assert len(callbacks) == 1  # the Celery message, sent after the commit
    assert ActivityEntry.objects.filter(object_type="audits.auditrun", object_id=str(run.pk)).count() == 1

    # Asking again while it is pending gives the same run, no second message.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = runs.audit_run_request(project=project, actor=researcher, reason="again")
    assert again.pk == run.pk and callbacks == []


def test_results_are_reused_only_for_the_same_inputs(project, researcher, django_capture_on_commit_callbacks):
    image_set = _set(project, researcher)
    first = runs.audit_run_request(project=project, actor=researcher, reason="upload")
    AuditRun.objects.filter(pk=first.pk).update(status=RunStatus.SUCCEEDED, results=RESULTS, finished_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reused = runs.audit_run_request(project=project, actor=researcher, reason="rerun")
    assert reused.pk != first.pk
    assert reused.status == RunStatus.SUCCEEDED and reused.reused_from_id == first.pk
    assert reused.results == RESULTS and callbacks == []

    ImageSet.objects.filter(pk=image_set.pk).update(digest="b" * 64)  # new inputs
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        fresh = runs.audit_run_request(project=project, actor=researcher, reason="new upload")
    assert fresh.status == RunStatus.QUEUED and fresh.reused_from is None and len(callbacks) == 1
    assert fresh.input_digest != first.input_digest


def test_a_run_is_claimed_once_and_written_once(project, researcher):
    _set(project, researcher)
    run = runs.audit_run_request(project=project, actor=researcher, reason="upload")
    claimed = runs.run_claim(run_id=run.pk)
    assert claimed is not None and claimed.status == RunStatus.RUNNING and claimed.attempts == 1
    assert claimed.lease_until > timezone.now()
    assert runs.run_claim(run_id=run.pk) is None  # a second delivery of the start message

    assert runs.run_succeed(run=claimed, results=RESULTS) is True
    assert runs.run_succeed(run=claimed, results={"other": {}}) is False
    assert runs.run_fail(run_id=run.pk, reason="late failure") is False
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.results == RESULTS and run.progress == 100


def test_a_stale_attempt_cannot_write_after_the_run_was_taken_over(project, researcher):
    _set(project, researcher)
    run = runs.audit_run_request(project=project, actor=researcher, reason="upload")
    first = runs.run_claim(run_id=run.pk)
    AuditRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert runs.reconcile_runs()["requeued"] == 1
    second = runs.run_claim(run_id=run.pk)
    assert second is not None and second.attempts == 2

    assert runs.run_succeed(run=first, results={"stale": {}}) is False  # the lost worker woke up
    assert runs.run_heartbeat(run=first, progress=50, message="stale") is False
    assert runs.run_succeed(run=second, results=RESULTS) is True
    run.refresh_from_db()
    assert run.results == RESULTS


@override_settings(AUDIT_MAX_ATTEMPTS=2)
def test_the_reconciler_gives_up_after_the_last_attempt_with_a_reason(project, researcher):
    _set(project, researcher)
    run = runs.audit_run_request(project=project, actor=researcher, reason="upload")
    for _ in range(2):
        runs.run_claim(run_id=run.pk)
        AuditRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        runs.reconcile_runs()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "worker was lost 2 times" in run.error


@override_settings(AUDIT_QUEUED_RESEND_SECONDS=5)
def test_the_reconciler_resends_a_queued_run_whose_message_was_lost(project, researcher):
    _set(project, researcher)
    run = runs.audit_run_request(project=project, actor=researcher, reason="upload")
    assert runs.reconcile_runs()["resent"] == 0  # not yet due
    AuditRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert runs.reconcile_runs()["resent"] == 1
    assert runs.reconcile_runs()["resent"] == 0  # at most once per interval, not on every tick
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED  # resending changes nothing; the claim decides


def test_a_heartbeat_committed_after_the_reconciler_looked_keeps_the_run(project, researcher):
    _set(project, researcher)
    run = runs.audit_run_request(project=project, actor=researcher, reason="upload")
    claimed = runs.run_claim(run_id=run.pk)
    AuditRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert runs.run_keep_lease(run=claimed) is True  # the worker is alive after all
    assert runs.reconcile_runs()["requeued"] == 0
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.attempts == 1


def test_a_stale_attempt_cannot_fail_a_requeued_run(project, researcher):
    _set(project, researcher)
    run = runs.audit_run_request(project=project, actor=researcher, reason="upload")
    first = runs.run_claim(run_id=run.pk)
    AuditRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    runs.reconcile_runs()
    assert runs.run_fail(run_id=run.pk, reason="old worker's error", attempt=first.attempts) is False
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_the_database_refuses_a_finished_run_without_its_result_or_reason(project):
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditRun.objects.create(project=project, status=RunStatus.SUCCEEDED, reason="x", input_digest="0" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditRun.objects.create(project=project, status=RunStatus.FAILED, reason="x", input_digest="0" * 64)


def test_a_newer_request_cancels_queued_runs_over_older_inputs(project, researcher, django_capture_on_commit_callbacks):
    image_set = _set(project, researcher)
    first = runs.audit_run_request(project=project, actor=researcher, reason="first upload")
    ImageSet.objects.filter(pk=image_set.pk).update(digest="c" * 64)
    second = runs.audit_run_request(project=project, actor=researcher, reason="second upload")
    first.refresh_from_db()
    assert first.status == RunStatus.CANCELLED and "Superseded" in first.error
    assert second.status == RunStatus.QUEUED
    assert runs.run_claim(run_id=first.pk) is None  # its message, still in the broker, does nothing


def test_results_of_replaced_images_are_no_longer_the_projects_evidence(project, researcher):
    from audits.receivers import image_sets_and_results
    from audits.selectors import latest_current_run, latest_results

    image_set = _set(project, researcher)
    run = runs.audit_run_request(project=project, actor=researcher, reason="upload")
    AuditRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, results=RESULTS, finished_at=timezone.now())
    assert latest_current_run(project).pk == run.pk
    assert image_sets_and_results(None, project=project)["audit_results"]["run"] == run.pk

    ImageSet.objects.filter(pk=image_set.pk).update(digest="e" * 64)  # the synthetic set was replaced
    assert latest_current_run(project) is None
    assert latest_results(project) is None
    assert image_sets_and_results(None, project=project)["audit_results"] is None  # a round freezes no stale pass
