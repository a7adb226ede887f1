"""In-app notifications and their emails.

A notification row is created in the transaction of the change it reports, under a key
that names the event and the recipient, so an event notifies each person once however often
the code path runs. Its email goes out from Celery after commit (reviews.tasks).
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterable
from typing import Any

from django.core.mail import send_mail
from django.db.models import F
from django.utils import timezone

from config.broker import send_many_after_commit
from config.site import site_url
from reviews.enums import NotificationKind, Role
from reviews.models import Notification, Project, User


def notify(
    *,
    key: str,
    recipients: Iterable[User],
    kind: NotificationKind,
    subject: str,
    body: str,
    project: Project | None = None,
    url: str = "",
) -> list[Notification]:
    """Create one notification per recipient (once per key) and send its email on commit."""
    created: list[Notification] = []
    for user in {user.pk: user for user in recipients if user.is_active}.values():
        notification, is_new = Notification.objects.get_or_create(
            key=f"{key}:to:{user.pk}"[:200],
            defaults={
                "recipient": user,
                "kind": kind,
                "project": project,
                "subject": " ".join(subject.split())[:250],
                "body": body,
                "url": url,
                "email_state": Notification.EmailState.PENDING if user.email else Notification.EmailState.SKIPPED,
            },
        )
        if is_new:
            created.append(notification)
    if created:
        ids = [notification.pk for notification in created if notification.email_state == "pending"]
        # A broker that is down must not turn a committed change into a 500 (config.broker);
        # the reconciler (reviews.services.reminders) re-queues emails left pending.
        send_many_after_commit("reviews.send_notification_email", [{"notification_id": pk} for pk in ids])
    return created


def admins() -> list[User]:
    return list(User.objects.filter(is_active=True, role=Role.ADMIN))


# Connection-level failures, not a refused recipient or message (SMTPRecipientsRefused,
# SMTPDataError are SMTPException but not these).
TRANSIENT_MAIL_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError)
MAX_EMAIL_ATTEMPTS = 5


def notification_email_send(*, notification_id: int) -> bool:
    """Send one notification's email at most once: claim it with a compare-and-set first.

    A crash between sending and recording leaves the row 'sending'; the reconciler does not
    resend those (a duplicate email is worse than a late note in the app), it marks them failed.
    """
    claimed = Notification.objects.filter(pk=notification_id, email_state=Notification.EmailState.PENDING).update(
        email_state=Notification.EmailState.SENDING,
        email_attempts=F("email_attempts") + 1,
        email_claimed_at=timezone.now(),
    )
    if not claimed:
        return False
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    link = site_url() + (notification.url or "/")
    try:
        send_mail(
            subject=f"[MISyn Review] {notification.subject}",
            message=f"{notification.body}\n\n{link}\n",
            from_email=None,
            recipient_list=[notification.recipient.email],
        )
    except Exception as exc:  # noqa: BLE001 (any mail error is recorded on the row, not raised)
        # A mail server that is down or busy is tried again by the reconciler (it re-queues
        # pending emails); an address or message the server refuses is final.
        retry = isinstance(exc, TRANSIENT_MAIL_ERRORS) and notification.email_attempts < MAX_EMAIL_ATTEMPTS
        Notification.objects.filter(pk=notification_id).update(
            email_state=Notification.EmailState.PENDING if retry else Notification.EmailState.FAILED,
            email_error=str(exc)[:1000],
        )
        return False
    Notification.objects.filter(pk=notification_id).update(
        email_state=Notification.EmailState.SENT, emailed_at=timezone.now()
    )
    return True


def notification_mark_read(*, user: User, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every) unread notification of the user read."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())


def notification_mark_read_for(*, user: User, project: Project, kind: NotificationKind) -> int:
    """Mark the user's unread notifications of one kind about one project read: done with
    (answering an invitation settles its "assigned" notification), they no longer call for attention."""
    unread = Notification.objects.filter(recipient=user, project=project, kind=kind, read_at__isnull=True)
    return unread.update(read_at=timezone.now())


def notification_context(user: Any) -> dict[str, Any]:
    if not getattr(user, "is_authenticated", False):
        return {}
    return {"unread_notifications": Notification.objects.filter(recipient=user, read_at__isnull=True).count()}
