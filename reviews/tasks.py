"""Celery tasks of the reviews app: notification emails and review reminders.

Thin adapters: take ids, call one service. Safe to run twice (the services are
compare-and-set or keyed by event).
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from reviews.services import notifications, reminders

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


@shared_task(
    name="reviews.send_notification_email",
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def send_notification_email(*, notification_id: int) -> bool:
    return notifications.notification_email_send(notification_id=notification_id)


@shared_task(
    name="reviews.send_review_reminders",
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=3,
)
def send_review_reminders() -> dict[str, int]:
    """Hourly (celery beat): due-soon and overdue reminders, once each; lost emails settled."""
    return reminders.reminders_run()
