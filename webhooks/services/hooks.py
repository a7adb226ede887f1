"""Registering, changing and removing hooks; the test event and redelivery."""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from reviews.enums import Action, EventKind
from reviews.models import Project, User
from reviews.services.activity import activity_record, changed_values, field_values
from webhooks.enums import PING, DeliveryStatus
from webhooks.models import Webhook, WebhookDelivery, new_secret
from webhooks.services.outbox import deliveries_enqueue, hook_receives, ping_payload
from webhooks.validators import validate_hook_url

LOGGED_FIELDS = ["project", "url", "events", "is_active"]


def _check(*, actor: User, project: Project | None, events: list[str], url: str) -> None:
    """What the form also enforces, enforced again for any other caller."""
    if project is None and not actor.has_perm("webhooks.hook_every_project"):
        raise PermissionDenied("only administrators register hooks for every project")
    if project is not None and not actor.has_perm("webhooks.hook_project", project):
        raise PermissionDenied("only the project's researcher or an administrator registers its hooks")
    unknown = set(events) - set(EventKind.values)
    if unknown or not events:
        raise ValidationError({"events": "Choose at least one of the listed events."})
    if EventKind.OBJECTION_RECEIVED in events and not actor.has_perm("webhooks.subscribe_objections"):
        raise ValidationError({"events": "Only administrators receive objections."})
    try:
        validate_hook_url(url)
    except ValidationError as error:
        raise ValidationError({"url": error.messages}) from None


@transaction.atomic
def webhook_create(*, actor: User, project: Project | None, url: str, events: list[str]) -> Webhook:
    _check(actor=actor, project=project, events=events, url=url)
    hook = Webhook.objects.create(project=project, url=url, events=sorted(set(events)), created_by=actor)
    activity_record(actor=actor, action=Action.CREATE, obj=hook, project=project, new=field_values(hook, LOGGED_FIELDS))
    return hook


@transaction.atomic
def webhook_update(*, actor: User, hook: Webhook, url: str, events: list[str], is_active: bool) -> Webhook:
    locked = Webhook.objects.select_for_update(of=("self",)).select_related("project").get(pk=hook.pk)
    _check(actor=actor, project=locked.project, events=events, url=url)
    before = field_values(locked, LOGGED_FIELDS)
    locked.url, locked.events, locked.is_active = url, sorted(set(events)), is_active
    locked.save(update_fields=["url", "events", "is_active"])
    old, new = changed_values(before, field_values(locked, LOGGED_FIELDS))
    if new:
        activity_record(actor=actor, action=Action.CHANGE, obj=locked, project=locked.project, old=old, new=new)
    return locked


@transaction.atomic
def webhook_rotate_secret(*, actor: User, hook: Webhook) -> Webhook:
    """A new secret at once: deliveries still pending are signed with it when they are sent."""
    Webhook.objects.filter(pk=hook.pk).update(secret=new_secret())
    # The log says that the secret changed, never the secret.
    activity_record(actor=actor, action=Action.CHANGE, obj=hook, project=hook.project, new={"secret": "rotated"})
    return Webhook.objects.select_related("project").get(pk=hook.pk)


@transaction.atomic
def webhook_delete(*, actor: User, hook: Webhook) -> None:
    activity_record(
        actor=actor, action=Action.DELETE, obj=hook, project=hook.project, old=field_values(hook, LOGGED_FIELDS)
    )
    hook.delete()


@transaction.atomic
def webhook_send_test(*, actor: User, hook: Webhook) -> WebhookDelivery:
    """A ping through the same outbox, worker and signature as every other delivery."""
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        hook=hook, event=PING, event_id=event_id, payload=ping_payload(hook=hook, event_id=event_id),
        is_test=True, next_attempt_at=timezone.now(),
    )  # fmt: skip
    deliveries_enqueue([delivery])
    return delivery


@transaction.atomic
def delivery_redeliver(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """A failed delivery sent again as a new delivery with its own attempts; the event id and
    payload stay the same, so a receiver that did process it after all can dedupe."""
    if not WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk, status=DeliveryStatus.FAILED).exists():
        raise ValidationError("Only a failed delivery can be sent again.")
    hook = Webhook.objects.select_related("created_by", "project").get(pk=delivery.hook_id)
    if not hook_receives(hook, delivery.event):
        raise ValidationError("Not sent again: the webhook's creator no longer receives this event.")
    again = WebhookDelivery.objects.create(
        hook=delivery.hook, event=delivery.event, event_id=delivery.event_id, payload=delivery.payload,
        is_test=delivery.is_test, redelivery_of=delivery, next_attempt_at=timezone.now(),
    )  # fmt: skip
    deliveries_enqueue([again])
    return again
