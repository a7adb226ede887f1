"""Celery tasks of the webhooks app: adapters that call one service each (safe to run twice)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from webhooks.services.deliveries import deliveries_send_due, delivery_attempt

_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


# An attempt may take the timeout to connect, to send and to read; the hard limit ends one that
# a receiver keeps alive byte by byte, and the row, still pending, is due again after its lease.
@shared_task(name="webhooks.deliver", time_limit=3 * settings.WEBHOOK_TIMEOUT_SECONDS + 20, **_RETRY)
def deliver(*, delivery_id: str) -> str | None:
    status = delivery_attempt(delivery_id=delivery_id)
    return None if status is None else str(status)


@shared_task(name="webhooks.deliver_due", **_RETRY)
def deliver_due() -> int:
    return deliveries_send_due()
