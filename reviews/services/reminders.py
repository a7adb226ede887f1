"""Review reminders and the reconciler of notification emails, run by celery beat.

Each reminder is a notification keyed by the assignment and its due date, so however often
the beat runs (or runs twice at once), a reviewer hears "due soon" once and "overdue" once
per due date; a new due date is a new reminder.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone

from config.broker import send_many_after_commit
from reviews.enums import ACTIVE_ASSIGNMENT_STATUSES, UNDER_REVIEW_STATUSES, AssignmentStatus, NotificationKind
from reviews.models import Assignment, Notification, ReviewPolicy, Round, Signature, User
from reviews.services.notifications import admins, notify

# An email "sending" this long after a worker claimed it has lost its worker.
EMAIL_STUCK_AFTER = timedelta(minutes=15)
# A "pending" email this old should have been sent; its message may have been lost.
EMAIL_RESEND_AFTER = timedelta(minutes=5)
EMAIL_RESEND_BATCH = 500


def reminders_run(*, now: datetime | None = None) -> dict[str, int]:
    """One beat: send the reminders that are due, then settle notification emails."""
    now = now or timezone.now()
    return {**review_reminders_send(today=timezone.localdate(now)), **notification_emails_reconcile(now=now)}


def _waiting_assignments(*, today: date, horizon: int) -> QuerySet[Assignment]:
    """Active, conflict-free assignments on projects under review whose reviewer has not
    signed the latest round, due within `horizon` days or already past due."""
    latest = Round.objects.filter(project=OuterRef("project")).order_by("-number")
    return (
        Assignment.objects.filter(
            status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES),
            has_conflict=False,
            project__status__in=sorted(UNDER_REVIEW_STATUSES),
            due_date__lte=today + timedelta(days=horizon),
        )
        .annotate(round_id=Subquery(latest.values("pk")[:1]), round_number=Subquery(latest.values("number")[:1]))
        .annotate(
            signed=Exists(Signature.objects.filter(round_id=OuterRef("round_id"), signer_id=OuterRef("reviewer_id")))
        )
        .filter(signed=False, reviewer__is_active=True)
        .select_related("project", "reviewer")
        .order_by("due_date", "pk")
    )


def review_reminders_send(*, today: date | None = None) -> dict[str, int]:
    """Remind reviewers of reviews due within the policy's reminder days, and reviewers and
    administrators of overdue ones. Returns how many notifications were created."""
    today = today or timezone.localdate()
    default_days = ReviewPolicy._meta.get_field("reminder_days").get_default()
    reminder_days = dict(ReviewPolicy.objects.values_list("version_id", "reminder_days"))
    horizon = max([default_days, *reminder_days.values()])
    counts = {"due_soon": 0, "overdue": 0}
    staff = admins()
    for assignment in _waiting_assignments(today=today, horizon=horizon):
        days = reminder_days.get(assignment.project.guideline_version_id, default_days)
        due = assignment.due_date
        with transaction.atomic():
            if due < today:
                counts["overdue"] += _remind_overdue(assignment, staff, today=today)
            elif due <= today + timedelta(days=days):
                counts["due_soon"] += _remind_due_soon(assignment, today=today)
    return counts


def _reviewer_url(assignment: Assignment) -> str:
    number = getattr(assignment, "round_number", None)
    if assignment.status == AssignmentStatus.INVITED or number is None:
        return reverse("assignment-respond", kwargs={"pk": assignment.project_id})
    return reverse("round-review", kwargs={"pk": assignment.project_id, "number": number})


def _task(assignment: Assignment) -> str:
    if assignment.status == AssignmentStatus.INVITED:
        return "Please accept or decline the invitation to review"
    return "Please complete and sign your review of"


def _remind_due_soon(assignment: Assignment, *, today: date) -> int:
    due, title = assignment.due_date, assignment.project.title
    left = (due - today).days
    when = "today" if left == 0 else "tomorrow" if left == 1 else f"in {left} days"
    created = notify(
        key=f"reminder:due_soon:{assignment.pk}:{due.isoformat()}",
        recipients=[assignment.reviewer],
        kind=NotificationKind.DUE_SOON,
        project=assignment.project,
        subject=f"Review due {when}: {title}",
        body=f"{_task(assignment)} “{title}” by {due:%d %B %Y}.",
        url=_reviewer_url(assignment),
    )
    return len(created)


def _remind_overdue(assignment: Assignment, staff: list[User], *, today: date) -> int:
    due, title, reviewer = assignment.due_date, assignment.project.title, assignment.reviewer
    late = (today - due).days
    created = notify(
        key=f"reminder:overdue:{assignment.pk}:{due.isoformat()}",
        recipients=[reviewer],
        kind=NotificationKind.OVERDUE,
        project=assignment.project,
        subject=f"Review overdue: {title}",
        body=f"{_task(assignment)} “{title}”: it was due {due:%d %B %Y}, {late} day{'s' if late != 1 else ''} ago.",
        url=_reviewer_url(assignment),
    )
    created += notify(
        key=f"reminder:overdue-admin:{assignment.pk}:{due.isoformat()}",
        recipients=staff,
        kind=NotificationKind.OVERDUE,
        project=assignment.project,
        subject=f"Review overdue: {reviewer.display_name} on {title}",
        body=(
            f"{reviewer.display_name}'s review ({assignment.get_status_display().lower()}) was due {due:%d %B %Y}. "
            "Remind them, extend the review or reassign it."
        ),
        url=reverse("assignment-list", kwargs={"pk": assignment.project_id}),
    )
    return len(created)


def notification_emails_reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Settle emails whose message or worker was lost.

    "sending" for too long: the worker died between claiming and recording, and the email
    may or may not have gone out. It is marked failed, never resent (a duplicate email is
    worse than a note only in the app). "pending" for too long: the message was lost before
    a worker claimed it, so it is queued again; the claim lets only one copy send.
    """
    now = now or timezone.now()
    stuck = Notification.objects.filter(
        email_state=Notification.EmailState.SENDING, email_claimed_at__lt=now - EMAIL_STUCK_AFTER
    ).update(
        email_state=Notification.EmailState.FAILED,
        email_error="The worker sending this email was lost; it is not sent again, so that it is never sent twice.",
    )
    pending = list(
        Notification.objects.filter(
            email_state=Notification.EmailState.PENDING, created_at__lt=now - EMAIL_RESEND_AFTER
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:EMAIL_RESEND_BATCH]
    )
    send_many_after_commit("reviews.send_notification_email", [{"notification_id": pk} for pk in pending])
    return {"emails_failed": stuck, "emails_requeued": len(pending)}
