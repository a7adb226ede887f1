"""Defects found by a review of the sign-off workflow, each pinned by the behaviour a user
would notice once fixed."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from reviews.enums import ExpertiseKind, Meaning, NotificationKind, ProjectStatus
from reviews.models import ActivityEntry, AuditWaiver, Notification, ReviewPolicy
from reviews.selectors.review import policy_status
from reviews.services.activity import activity_record
from reviews.services.assignments import assignment_create, assignment_declare_conflict, assignment_respond
from reviews.services.chain import chain_verify
from reviews.services.notifications import notification_email_send
from reviews.services.review import TransitionConflict, audit_waive
from tests.factories import PASSWORD, ReviewerFactory
from tests.workflow import review, reviewers_on, sign, submitted, waive_all

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_sign_page_hides_other_signatures_until_the_own_review_is_submitted(project, admin_user):
    round_ = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    review(round_, technical)
    waive_all(round_, technical)
    sign(round_, technical, Meaning.APPROVE)
    url = reverse("round-sign", kwargs={"pk": project.pk, "number": 1})

    before = _client(clinical).get(url).content.decode()
    assert "Tess Technical" not in before and "1 of 2" not in before

    review(round_, clinical)
    after = _client(clinical).get(url).content.decode()
    assert "Tess Technical" in after and "1 of 2" in after


def test_waivers_of_a_reviewer_who_then_declares_a_conflict_stop_counting(project, admin_user):
    round_ = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    third = ReviewerFactory(full_name="Wally Waiver", expertise=ExpertiseKind.ETHICS)
    assignment_create(actor=admin_user, project=project, reviewer=third)
    assignment_respond(actor=third, project=project, accept=True)
    waive_all(round_, third)
    assignment_declare_conflict(actor=third, project=project, statement="I work for the applicant.")
    review(round_, technical)
    review(round_, clinical)
    sign(round_, technical)
    sign(round_, clinical)

    project.refresh_from_db()
    assert project.status == ProjectStatus.IN_REVIEW
    assert policy_status(round_).unwaived  # every audit needs a waiver again

    page = _client(admin_user).get(round_.get_absolute_url()).content.decode()
    assert "not counted, as Wally Waiver can no longer sign this project" in page

    waive_all(round_, technical)  # another reviewer may now waive them: this approves the round
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED
    assert AuditWaiver.objects.filter(round=round_, waived_by=third).count() == 6  # kept, not counted


def test_history_keeps_conflict_statements_for_the_admins(project, admin_user, researcher):
    submitted(project)
    reviewer = ReviewerFactory(full_name="Cora Conflicted", expertise=ExpertiseKind.ETHICS)
    assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assignment_respond(actor=reviewer, project=project, accept=True, conflict_statement="SECRET-COI spouse competes")
    url = reverse("project-history", kwargs={"pk": project.pk})

    assert "SECRET-COI" not in _client(researcher).get(url).content.decode()
    assert "SECRET-COI" in _client(admin_user).get(url).content.decode()


def test_lowering_the_policy_approves_a_round_that_now_meets_it(project, admin_user):
    round_ = submitted(project)
    policy = ReviewPolicy.objects.create(version=project.guideline_version, approvals_required=3)
    technical, clinical = reviewers_on(project, admin=admin_user)
    review(round_, technical)
    review(round_, clinical)
    waive_all(round_, technical)
    sign(round_, technical)
    sign(round_, clinical)
    project.refresh_from_db()
    assert project.status == ProjectStatus.IN_REVIEW

    url = reverse("admin:reviews_reviewpolicy_change", args=[policy.pk])
    form = {"approvals_required": "2", "require_technical_and_non_technical": "on", "final_decision": "policy",
            "review_days": "21", "reminder_days": "3"}  # fmt: skip
    response = _client(admin_user).post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED
    assert round_.outcome.outcome == "approved"


def test_a_waiver_for_a_result_that_changed_since_the_page_is_a_conflict(project, admin_user):
    round_ = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    url = reverse("audit-waive", kwargs={"pk": project.pk, "number": 1, "audit": "privacy"})
    response = _client(technical).post(url, {"waive-privacy-seen": "fail", "waive-privacy-reason": "Accepted."})

    assert response.status_code == 409
    assert not AuditWaiver.objects.exists()
    with pytest.raises(TransitionConflict):
        audit_waive(actor=technical, round_=round_, audit="privacy", reason="Accepted.", status="fail")


def test_log_values_hash_the_same_after_the_database_and_non_finite_numbers_are_refused(project, researcher):
    activity_record(actor=researcher, action="change", obj=project, project=project, new={"big": 1e23, "small": 1e-7})
    assert list(chain_verify(ActivityEntry)) == []
    with pytest.raises(ValueError):
        activity_record(actor=researcher, action="change", obj=project, project=project, new={"x": float("nan")})


def test_invited_reviewers_do_not_get_the_reasons_of_a_change_request(project, admin_user):
    round_ = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    invited = ReviewerFactory(full_name="Ivy Invited", expertise=ExpertiseKind.ETHICS)
    assignment_create(actor=admin_user, project=project, reviewer=invited)
    review(round_, technical)
    sign(round_, technical, Meaning.REQUEST_CHANGES, "The consent forms are missing.")

    assert not Notification.objects.filter(recipient=invited, kind=NotificationKind.CHANGES_REQUESTED).exists()
    assert Notification.objects.filter(recipient=project.owner, kind=NotificationKind.CHANGES_REQUESTED).exists()


def test_a_mail_server_that_is_down_leaves_the_email_pending_for_a_retry(project, admin_user, settings, monkeypatch):
    round_ = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    review(round_, technical)
    sign(round_, technical, Meaning.REQUEST_CHANGES, "Fix the labels.")
    note = Notification.objects.get(recipient=project.owner, kind=NotificationKind.CHANGES_REQUESTED)

    def down(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr("reviews.services.notifications.send_mail", down)
    assert notification_email_send(notification_id=note.pk) is False
    note.refresh_from_db()
    assert note.email_state == Notification.EmailState.PENDING and "unexpectedly closed" in note.email_error

    monkeypatch.undo()
    assert notification_email_send(notification_id=note.pk) is True
    assert [message.to for message in mail.outbox if "Fix the labels" in message.body] == [[project.owner.email]]


def test_signing_still_needs_the_password(project, admin_user):
    """Unchanged by the fixes above: a sign POST without the right password records nothing."""
    round_ = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    review(round_, technical)
    url = reverse("round-sign", kwargs={"pk": project.pk, "number": 1})
    data = {"meaning": "request_changes", "statement": "x", "digest": round_.digest, "password": PASSWORD + "x"}
    assert _client(technical).post(url, data).status_code == 400
    assert not round_.signatures.exists()
