"""The outbox: one delivery row per matching hook, written inside the emitting transaction.

Payloads are thin: what happened, to which project, the object's id and where to read it (its
API URL; for an objection, which the API does not serve, its page on the site), and a few facts that the hook's manager can read through the API with their own token
anyway (run status and verdicts, round number and digest, the outcome). An objection's text,
sender name and email never enter a payload.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from config.broker import send_many_after_commit
from config.site import site_url
from reviews.enums import EventKind
from reviews.models import Project
from webhooks.enums import PING, DeliveryStatus
from webhooks.models import Webhook, WebhookDelivery

DELIVER_TASK = "webhooks.deliver"

# The facts each event may carry, whatever its emitter passes: anything else is dropped.
SAFE_FACTS: dict[str, tuple[str, ...]] = {
    EventKind.AUDIT_RUN_FINISHED: ("status", "verdicts"),
    EventKind.PROJECT_SUBMITTED: ("round", "digest"),
    EventKind.DECISION_MADE: ("round", "digest", "outcome", "status"),
    EventKind.OBJECTION_RECEIVED: ("kind",),
}


def _api(path: str) -> str:
    return f"{site_url()}/api/v1/{path}"


def _subject(event: str, project: Project, data: dict[str, Any]) -> dict[str, Any]:
    """The object the event is about, and where the API serves it."""
    if event == EventKind.AUDIT_RUN_FINISHED:
        run_id = data["run_id"]
        return {"type": "audit_run", "id": run_id, "url": _api(f"projects/{project.pk}/audit-runs/{run_id}/")}
    if event in (EventKind.PROJECT_SUBMITTED, EventKind.DECISION_MADE):
        number = data["round"]
        return {"type": "round", "id": number, "url": _api(f"projects/{project.pk}/rounds/{number}/")}
    if event == EventKind.OBJECTION_RECEIVED:
        objection_id = data["objection_id"]
        page = reverse("objection-detail", kwargs={"pk": objection_id})
        return {"type": "objection", "id": objection_id, "url": f"{site_url()}{page}"}
    raise ValueError(f"no payload for the event {event!r}")


def event_payload(*, event: str, event_id: uuid.UUID, project: Project, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": event,
        "event_id": str(event_id),
        "occurred_at": timezone.now().isoformat(),
        "project": {"id": project.pk, "title": project.title, "url": _api(f"projects/{project.pk}/")},
        "object": _subject(event, project, data),
        "data": {key: data[key] for key in SAFE_FACTS[event] if key in data},
    }


def ping_payload(*, hook: Webhook, event_id: uuid.UUID) -> dict[str, Any]:
    project = hook.project
    return {
        "event": PING,
        "event_id": str(event_id),
        "occurred_at": timezone.now().isoformat(),
        "project": None
        if project is None
        else {"id": project.pk, "title": project.title, "url": _api(f"projects/{project.pk}/")},
        "object": {"type": "webhook", "id": hook.pk, "url": None},
        "data": {"message": "A test event sent from the webhook's page."},
    }


def hook_receives(hook: Webhook, event: str) -> bool:
    """The hook asked for the event and its creator may still have it (an owner who lost the
    project, or an administrator who is one no more, gets nothing). Asked when the delivery is
    written, and again when it is sent or sent again, since the right may go in between. A test
    event (ping) goes to a hook whose creator may still manage it."""
    creator = hook.created_by
    if event == PING:
        return bool(creator.has_perm("webhooks.manage_webhook", hook))
    if event not in hook.events:
        return False
    if event == EventKind.OBJECTION_RECEIVED and not creator.has_perm("webhooks.subscribe_objections"):
        return False
    return bool(creator.has_perm("webhooks.manage_webhook", hook))


def deliveries_enqueue(deliveries: list[WebhookDelivery]) -> None:
    send_many_after_commit(DELIVER_TASK, [{"delivery_id": str(delivery.pk)} for delivery in deliveries])


def outbox_write(*, event: str, project: Project, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Call inside the transaction of the change: the rows commit or roll back with it."""
    hooks = (
        Webhook.objects.filter(Q(project=project) | Q(project__isnull=True), is_active=True)
        .select_related("created_by", "project")
        .order_by("pk")
    )
    event_id = uuid.uuid4()
    now = timezone.now()
    payload: dict[str, Any] | None = None
    deliveries = []
    for hook in hooks:
        if not hook_receives(hook, event):
            continue
        payload = payload or event_payload(event=event, event_id=event_id, project=project, data=data)
        deliveries.append(
            WebhookDelivery(
                hook=hook, event=event, event_id=event_id, payload=payload,
                status=DeliveryStatus.PENDING, next_attempt_at=now,
            )
        )  # fmt: skip
    WebhookDelivery.objects.bulk_create(deliveries)
    deliveries_enqueue(deliveries)
    return deliveries
