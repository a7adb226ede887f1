"""Sending a delivery: claim, POST, record the attempt, schedule the retry or end it.

Safe to run twice and to race the reconciler: an attempt starts only by a compare-and-set on
(status pending, attempts n, due), which also pushes next_attempt_at past the longest
attempt, so nobody else takes it meanwhile; its result is written only while the row is
still (pending, n + 1). A worker killed mid-attempt leaves the row pending and due again
after that lease: the reconciler sends it once more.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.broker import BROKER_ERRORS
from webhooks.enums import DeliveryStatus
from webhooks.models import DeliveryAttempt, WebhookDelivery
from webhooks.services.outbox import DELIVER_TASK, deliveries_enqueue, hook_receives
from webhooks.services.sending import Answer, post
from webhooks.signing import signature_header

log = logging.getLogger(__name__)

USER_AGENT = "MISyn-Review-Webhooks/1"


def _lease() -> timedelta:
    # Connect, send and read may each take the timeout; DNS and the database add a little.
    return timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)


def _claim(delivery_id: str) -> tuple[WebhookDelivery, int] | None:
    delivery = (
        WebhookDelivery.objects.select_related("hook__created_by", "hook__project").filter(pk=delivery_id).first()
    )
    now = timezone.now()
    if delivery is None or delivery.status != DeliveryStatus.PENDING or delivery.next_attempt_at is None:
        return None
    if delivery.next_attempt_at > now:  # an early copy of a retry's message, or one still in flight
        return None
    number = delivery.attempts + 1
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts, next_attempt_at__lte=now
    ).update(attempts=number, next_attempt_at=now + _lease())
    return (delivery, number) if claimed else None


def request_headers(delivery: WebhookDelivery, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-MISyn-Event": delivery.event,
        "X-MISyn-Delivery": str(delivery.pk),
        "X-MISyn-Timestamp": str(timestamp),
        "X-MISyn-Signature": signature_header(secret=delivery.hook.secret, timestamp=timestamp, body=body),
    }


def _refusal(delivery: WebhookDelivery) -> str | None:
    """Why the delivery must end unsent: no retry can change either reason."""
    if not delivery.hook.is_active:
        return "Not sent: the webhook is paused."
    if not hook_receives(delivery.hook, delivery.event):
        return "Not sent: the webhook's creator no longer receives this event."
    return None


def _send(delivery: WebhookDelivery) -> Answer:
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    timestamp = int(timezone.now().timestamp())
    answer = post(url=delivery.hook.url, body=body, headers=request_headers(delivery, body, timestamp))
    if answer.status_code is not None and not 100 <= answer.status_code <= 599:
        return Answer(None, answer.body, f"Invalid HTTP status {answer.status_code}.", answer.duration_ms)
    return answer


@transaction.atomic
def _record(
    delivery: WebhookDelivery, number: int, answer: Answer, attempted_at: datetime, *, final: bool
) -> int | None:
    """Write the attempt and the delivery's next state; the retry's delay, if one follows
    (none after a `final` attempt)."""
    still_ours = WebhookDelivery.objects.select_for_update().filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=number
    )
    if not still_ours.exists():
        return None
    DeliveryAttempt.objects.create(
        delivery=delivery, number=number, attempted_at=attempted_at, status_code=answer.status_code,
        response_body=answer.body, error=answer.error[:500], duration_ms=max(answer.duration_ms, 0),
    )  # fmt: skip
    now = timezone.now()
    delays = settings.WEBHOOK_RETRY_DELAYS
    if answer.succeeded:
        still_ours.update(status=DeliveryStatus.SUCCEEDED, delivered_at=now, next_attempt_at=None)
        return None
    if number <= len(delays) and not final:
        delay = delays[number - 1]
        still_ours.update(next_attempt_at=now + timedelta(seconds=delay))
        return delay
    still_ours.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    return None


def delivery_attempt(*, delivery_id: str) -> DeliveryStatus | None:
    """One attempt, if the delivery is due and nobody else holds it; its status afterwards."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return None
    delivery, number = claimed
    attempted_at = timezone.now()
    refusal = _refusal(delivery)
    answer = Answer(None, "", refusal, 0) if refusal is not None else _send(delivery)
    delay = _record(delivery, number, answer, attempted_at, final=refusal is not None)
    if delay is not None:
        _send_later(delivery_id, delay)
    return DeliveryStatus(WebhookDelivery.objects.get(pk=delivery_id).status)


def _send_later(delivery_id: str, countdown: int) -> None:
    """A lost message only waits for the reconciler, which sends what is due. A delay longer
    than the broker's visibility timeout is left to the reconciler alone: Redis would hand
    such a waiting message out again every visibility timeout."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    if visibility is not None and countdown >= visibility:
        return
    try:
        current_app.send_task(DELIVER_TASK, kwargs={"delivery_id": delivery_id}, countdown=countdown)
    except BROKER_ERRORS as error:
        log.warning("retry of webhook delivery %s not queued (%s); the reconciler will send it", delivery_id, error)


def deliveries_send_due(*, limit: int = 500) -> int:
    """The reconciler (beat "webhooks.deliver_due"): wake a worker for every pending delivery
    that is due. Extra copies are harmless: the claim lets one attempt through."""
    due = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    deliveries_enqueue([WebhookDelivery(pk=pk) for pk in due])
    return len(due)
