"""In-app notifications, their emails, and the review reminders of celery beat.

Every event notifies each person once, however often its code path runs; every email goes
out once, however often its task runs; reminders come once per assignment and due date.
Time moves through due_date values, never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reviews.enums import ExpertiseKind, NotificationKind, ProjectStatus
from reviews.models import Assignment, Notification, Project, User
from reviews.services.assignments import assignment_create, assignment_declare_conflict, assignment_respond
from reviews.services.notifications import notify
from reviews.services.reminders import notification_emails_reconcile, review_reminders_send
from reviews.services.review import TransitionConflict
from reviews.tasks import send_notification_email, send_review_reminders
from tests.factories import ReviewerFactory
from tests.workflow import review, sign, submitted

LIST = reverse("notification-list")
READ = reverse("notification-read")


def login(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def note(user: User, subject: str, *, key: str | None = None, url: str = "/projects/") -> Notification:
    [created] = notify(
        key=key or f"test:{subject}", recipients=[user], kind=NotificationKind.SUBMITTED, subject=subject, body=f"Body of {subject}", url=url
    )  # fmt: skip
    return created


# ---- the list ------------------------------------------------------------------------------


def test_the_list_shows_only_the_users_own_notifications_newest_first_unread_highlighted(researcher, other_researcher):
    older = note(researcher, "Older news")
    Notification.objects.filter(pk=older.pk).update(
        created_at=timezone.now() - timedelta(hours=2), read_at=timezone.now()
    )
    newer = note(researcher, "Newer news")
    note(other_researcher, "Someone else's secret news")

    response = login(researcher).get(LIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Newer news") < html.index("Older news")
    assert "Someone else's secret news" not in html
    newer_row = html.split(f'id="notification-{newer.pk}"')[1].split('id="notification-')[0]
    older_row = html.split(f'id="notification-{older.pk}"')[1]
    assert "New</span>" in newer_row and "New</span>" not in older_row
    assert "Body of Newer news" in newer_row
    assert 'id="unread-count">1<' in html  # the bell in the navigation bar
    assert f'href="{older.url}"' in older_row  # a read one links straight to its page
    # One row each: the text on the left; its time and, while unread, "Mark as read" on the right.
    text, meta = newer_row.split('class="notification-text"')[1].split('class="notification-meta')
    assert "Newer news" in text and "Body of Newer news" in text and "UTC" not in text
    assert f"{newer.created_at:%Y-%m-%d %H:%M} UTC</time>" in meta and "Mark as read</button>" in meta
    assert f"{Notification.objects.get(pk=older.pk).created_at:%Y-%m-%d %H:%M} UTC</time>" in older_row
    assert "Mark as read" not in older_row


def test_the_list_is_paginated(researcher):
    for n in range(30):
        note(researcher, f"Item {n:02d}")
    client = login(researcher)
    first = client.get(LIST).content.decode()
    second = client.get(LIST, {"page": 2}).content.decode()
    assert "Item 29" in first and "Item 05" in first and "Item 04" not in first
    assert "Item 04" in second and "Item 00" in second and "Item 29" not in second
    assert "Page 1 of 2" in first
    assert client.get(LIST, {"page": "not-a-number"}).status_code == 200


@pytest.mark.parametrize("count", [1, 30])
def test_the_list_runs_a_fixed_number_of_queries(researcher, django_assert_num_queries, count):
    for n in range(count):
        note(researcher, f"Item {n}")
    client = login(researcher)
    # session, user, the unread count of the navigation bar, the page count, one page of rows.
    with django_assert_num_queries(5):
        client.get(LIST)


def test_anonymous_visitors_are_sent_to_log_in_and_pay_no_notification_query(db):
    response = login(None).get(LIST)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    with CaptureQueriesContext(connection) as queries:
        home = login(None).get(reverse("home"))
    assert home.context["unread_notifications"] == 0
    assert not [q for q in queries.captured_queries if "reviews_notification" in q["sql"]]
    assert login(None).post(READ).status_code == 302


def test_every_page_counts_unread_notifications_in_one_query(researcher):
    note(researcher, "One")
    note(researcher, "Two")
    with CaptureQueriesContext(connection) as queries:
        html = login(researcher).get(reverse("project-list")).content.decode()
    assert len([q for q in queries.captured_queries if "reviews_notification" in q["sql"]]) == 1
    assert 'id="unread-count">2<' in html


# ---- marking read ----------------------------------------------------------------------------


def test_opening_a_notification_marks_it_read_and_goes_to_its_page(researcher):
    first, second = note(researcher, "First"), note(researcher, "Second", url="/catalogue/")
    client = login(researcher)

    response = client.post(READ, {"notification": second.pk, "next": second.url})

    assert response.status_code == 302 and response["Location"] == "/catalogue/"
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.read_at is not None and first.read_at is None


def test_mark_all_read(researcher, other_researcher):
    mine = [note(researcher, f"Mine {n}") for n in range(3)]
    theirs = note(other_researcher, "Theirs")
    client = login(researcher)

    response = client.post(READ, {"next": LIST}, follow=True)

    assert "3 notifications marked as read." in response.content.decode()
    assert all(Notification.objects.get(pk=n.pk).read_at for n in mine)
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert 'id="unread-count"' not in response.content.decode()


def test_another_users_notification_cannot_be_marked_and_unsafe_redirects_are_refused(researcher, other_researcher):
    theirs = note(other_researcher, "Theirs")
    client = login(researcher)

    for target in ("https://evil.example/", "//evil.example/path", "javascript:alert(1)", ""):
        response = client.post(READ, {"notification": theirs.pk, "next": target}, HTTP_REFERER="https://evil.example/")
        assert response.status_code == 302 and response["Location"] == LIST, target
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_going_back_to_the_referring_page_when_no_next_is_given(researcher):
    mine = note(researcher, "Mine")
    response = login(researcher).post(READ, {"notification": mine.pk}, HTTP_REFERER="http://testserver/projects/")
    assert response["Location"] == "http://testserver/projects/"


@pytest.mark.parametrize(
    "hostile",
    [{"notification": "abc"}, {"notification": "-5"}, {"notification": "9" * 40}, {"next": "x" * 5000}],
)
def test_hostile_mark_read_posts_are_refused_without_a_server_error(researcher, hostile):
    mine = note(researcher, "Mine")
    response = login(researcher).post(READ, hostile, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was marked as read. Notification: " in html or "Page to return to: Ensure" in html
    assert Notification.objects.get(pk=mine.pk).read_at is None


def test_mark_read_is_post_only(researcher):
    assert login(researcher).get(READ).status_code == 405


# ---- once per event, one email per notification ---------------------------------------------


def test_an_event_notifies_each_person_once_however_often_it_runs(researcher):
    note(researcher, "Once", key="event:1")
    again = notify(key="event:1", recipients=[researcher], kind=NotificationKind.SUBMITTED, subject="Once", body="")
    assert again == []
    assert Notification.objects.filter(recipient=researcher).count() == 1


def test_a_conflict_declared_twice_notifies_the_admins_once(project, admin_user):
    submitted(project)
    reviewer = ReviewerFactory()
    assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    with pytest.raises(TransitionConflict):
        assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assignment_respond(actor=reviewer, project=project, accept=True)
    assignment_declare_conflict(actor=reviewer, project=project, statement="A friend.")
    with pytest.raises(TransitionConflict):
        assignment_declare_conflict(actor=reviewer, project=project, statement="A friend.")
    assert Notification.objects.filter(recipient=reviewer, kind=NotificationKind.ASSIGNED).count() == 1
    assert Notification.objects.filter(recipient=admin_user, kind=NotificationKind.CONFLICT).count() == 1


def test_the_email_is_queued_after_commit_and_sent_once_however_often_the_task_runs(
    researcher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        mine = note(researcher, "Your project was approved")
    assert len(callbacks) == 1  # nothing is queued until the change commits
    assert mail.outbox == []

    assert send_notification_email(notification_id=mine.pk) is True
    assert send_notification_email(notification_id=mine.pk) is False  # a redelivered message

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "[MISyn Review] Your project was approved"
    assert mail.outbox[0].to == [researcher.email]
    mine.refresh_from_db()
    assert mine.email_state == Notification.EmailState.SENT and mine.emailed_at is not None


def test_a_user_without_an_email_address_gets_the_note_in_the_app_only(db):
    quiet = ReviewerFactory(email="")
    mine = note(quiet, "No address")
    assert mine.email_state == Notification.EmailState.SKIPPED
    assert send_notification_email(notification_id=mine.pk) is False
    assert mail.outbox == []


def test_the_reconciler_fails_stuck_emails_and_requeues_lost_ones_each_sent_once(researcher):
    now = timezone.now()
    stuck, sending_now, lost, fresh = (note(researcher, name) for name in ("Stuck", "Sending", "Lost", "Fresh"))
    Notification.objects.filter(pk=stuck.pk).update(email_state="sending", email_claimed_at=now - timedelta(minutes=20))
    Notification.objects.filter(pk=sending_now.pk).update(
        email_state="sending", email_claimed_at=now - timedelta(minutes=2)
    )
    Notification.objects.filter(pk=lost.pk).update(created_at=now - timedelta(minutes=10))

    counts = notification_emails_reconcile(now=now)

    assert counts == {"emails_failed": 1, "emails_requeued": 1}
    states = dict(Notification.objects.values_list("subject", "email_state"))
    assert states == {"Stuck": "failed", "Sending": "sending", "Lost": "pending", "Fresh": "pending"}
    assert "never sent twice" in Notification.objects.get(pk=stuck.pk).email_error
    # The re-queued message and the original may both arrive: one email.
    send_notification_email(notification_id=lost.pk)
    send_notification_email(notification_id=lost.pk)
    assert [message.subject for message in mail.outbox] == ["[MISyn Review] Lost"]
    assert notification_emails_reconcile(now=now) == {"emails_failed": 0, "emails_requeued": 0}
    assert fresh.email_state == "pending"


# ---- reminders ------------------------------------------------------------------------------------


@pytest.fixture
def waiting(project, admin_user):
    """Round 1 under review with an accepted technical and clinical reviewer."""
    round_ = submitted(project)
    technical = ReviewerFactory(full_name="Tess Technical", expertise=ExpertiseKind.TECHNICAL)
    clinical = ReviewerFactory(full_name="Carl Clinical", expertise=ExpertiseKind.CLINICAL)
    for reviewer in (technical, clinical):
        assignment_create(actor=admin_user, project=project, reviewer=reviewer)
        assignment_respond(actor=reviewer, project=project, accept=True)
    return round_, technical, clinical


def due_in(reviewer: User, days: int) -> None:
    Assignment.objects.filter(reviewer=reviewer).update(due_date=timezone.localdate() + timedelta(days=days))


def reminders(user: User, kind: str) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, kind=kind))


def test_a_review_due_soon_is_reminded_once(waiting):
    round_, technical, clinical = waiting
    due_in(technical, 2)  # within the default three reminder days
    due_in(clinical, 10)

    assert review_reminders_send() == {"due_soon": 1, "overdue": 0}
    assert review_reminders_send() == {"due_soon": 0, "overdue": 0}

    [reminder] = reminders(technical, NotificationKind.DUE_SOON)
    assert reminder.subject == f"Review due in 2 days: {round_.project.title}"
    assert reminder.url == reverse("round-review", kwargs={"pk": round_.project_id, "number": 1})
    assert reminders(clinical, NotificationKind.DUE_SOON) == []


def test_an_overdue_review_is_reminded_once_to_the_reviewer_and_the_admins(waiting, admin_user):
    round_, technical, clinical = waiting
    due_in(technical, -1)
    due_in(clinical, 30)

    first = send_review_reminders()
    second = send_review_reminders()

    assert (first["overdue"], second["overdue"]) == (2, 0)
    [overdue] = reminders(technical, NotificationKind.OVERDUE)
    assert overdue.subject == f"Review overdue: {round_.project.title}"
    assert "1 day ago" in overdue.body
    [admin_note] = reminders(admin_user, NotificationKind.OVERDUE)
    assert admin_note.subject == f"Review overdue: Tess Technical on {round_.project.title}"
    assert admin_note.url == reverse("assignment-list", kwargs={"pk": round_.project_id})
    assert reminders(clinical, NotificationKind.OVERDUE) == []


def test_day_by_day_a_review_is_reminded_once_before_and_once_after_its_due_date(waiting, admin_user):
    _round, technical, clinical = waiting
    due = timezone.localdate() + timedelta(days=5)
    Assignment.objects.filter(reviewer=technical).update(due_date=due)
    due_in(clinical, 60)

    sent = [review_reminders_send(today=due + timedelta(days=offset)) for offset in range(-5, 4)]

    assert [day["due_soon"] for day in sent] == [0, 0, 1, 0, 0, 0, 0, 0, 0]  # three days before
    assert [day["overdue"] for day in sent] == [0, 0, 0, 0, 0, 0, 2, 0, 0]  # the day after: reviewer and admin
    assert [n.subject.split(":")[0] for n in reminders(technical, NotificationKind.DUE_SOON)] == [
        "Review due in 3 days"
    ]
    assert len(reminders(technical, NotificationKind.OVERDUE)) == 1
    assert len(reminders(admin_user, NotificationKind.OVERDUE)) == 1


def test_a_new_due_date_is_reminded_again(waiting):
    _round, technical, _clinical = waiting
    due_in(technical, 1)
    review_reminders_send()
    due_in(technical, 3)  # the admin extended the review
    review_reminders_send()
    review_reminders_send()
    assert [n.subject.split(":")[0] for n in reminders(technical, NotificationKind.DUE_SOON)] == [
        "Review due in 3 days",
        "Review due tomorrow",
    ]


def test_no_reminder_after_signing_with_a_conflict_or_once_the_round_is_closed(waiting, admin_user):
    round_, technical, clinical = waiting
    review(round_, technical)
    sign(round_, technical)
    due_in(technical, -3)
    due_in(clinical, -3)
    assignment_declare_conflict(actor=clinical, project=round_.project, statement="A friend.")

    assert review_reminders_send() == {"due_soon": 0, "overdue": 0}

    # An invited reviewer is reminded to answer the invitation; not once the project leaves review.
    late = ReviewerFactory(full_name="Lee Late", expertise=ExpertiseKind.ETHICS)
    assignment_create(actor=admin_user, project=round_.project, reviewer=late)
    due_in(late, 0)
    Project.objects.filter(pk=round_.project_id).update(status=ProjectStatus.CHANGES_REQUESTED)
    assert review_reminders_send() == {"due_soon": 0, "overdue": 0}
    Project.objects.filter(pk=round_.project_id).update(status=ProjectStatus.IN_REVIEW)
    assert review_reminders_send() == {"due_soon": 1, "overdue": 0}
    [reminder] = reminders(late, NotificationKind.DUE_SOON)
    assert reminder.subject.startswith("Review due today")
    assert "accept or decline the invitation" in reminder.body
    assert reminder.url == reverse("assignment-respond", kwargs={"pk": round_.project_id})


def test_reminder_days_follow_the_policy_of_the_projects_guideline_version(waiting):
    from reviews.models import ReviewPolicy

    round_, technical, _clinical = waiting
    ReviewPolicy.objects.create(version_id=round_.project.guideline_version_id, reminder_days=7)
    due_in(technical, 6)
    assert review_reminders_send()["due_soon"] == 1


def test_the_beat_schedule_runs_the_reminders_hourly_by_default(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["send-review-reminders"]
    assert entry == {"task": "reviews.send_review_reminders", "schedule": 3600}
    assert send_review_reminders.name == "reviews.send_review_reminders"
