"""Webhooks, their deliveries (the outbox) and each delivery's attempts.

A delivery row is written in the transaction of the change it reports, so it exists exactly
when the change committed; the Celery message only wakes a worker, and the beat task
"webhooks.deliver_due" sends whatever is pending and due (a lost message, a broker down at
commit, a retry). A delivery moves pending -> succeeded | failed, by compare-and-set.
"""

from __future__ import annotations

import json
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual
from django.urls import reverse

from webhooks.enums import PING, DeliveryEvent, DeliveryStatus
from webhooks.validators import URL_MAX_LENGTH

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix that names what follows, not a secret)


def new_secret() -> str:
    """32 random bytes, URL-safe: the HMAC key of a hook's signatures."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class Webhook(models.Model):
    # Null: every project (administrators' hooks only, checked by the service and the form).
    project = models.ForeignKey(
        "reviews.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.CharField("URL", max_length=URL_MAX_LENGTH)
    secret = models.CharField(max_length=100, default=new_secret)
    events = models.JSONField(default=list, help_text="EventKind values this hook receives.")
    is_active = models.BooleanField("active", default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(url=""), name="webhook_url_present"),
            models.CheckConstraint(condition=GreaterThanOrEqual(Length("secret"), 38), name="webhook_secret_long"),
        ]

    def __str__(self) -> str:
        return f"Webhook #{self.pk} → {self.url}"

    def get_absolute_url(self) -> str:
        return reverse("webhook-detail", kwargs={"pk": self.pk})


class WebhookDelivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=DeliveryEvent.choices)
    # The idempotency key receivers dedupe on: the same for every attempt and every redelivery.
    event_id = models.UUIDField(default=uuid.uuid4)
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    is_test = models.BooleanField(default=False)
    redelivery_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status"),
            models.CheckConstraint(condition=Q(event__in=DeliveryEvent.values), name="webhook_delivery_event"),
            models.CheckConstraint(
                condition=Q(status=DeliveryStatus.PENDING, next_attempt_at__isnull=False)
                | (~Q(status=DeliveryStatus.PENDING) & Q(next_attempt_at__isnull=True)),
                name="webhook_delivery_due_iff_pending",
            ),
            models.CheckConstraint(
                condition=Q(status=DeliveryStatus.SUCCEEDED, delivered_at__isnull=False)
                | (~Q(status=DeliveryStatus.SUCCEEDED) & Q(delivered_at__isnull=True)),
                name="webhook_delivery_delivered_iff_succeeded",
            ),
            models.CheckConstraint(
                condition=Q(is_test=True, event=PING) | (Q(is_test=False) & ~Q(event=PING)),
                name="webhook_delivery_test_is_ping",
            ),
            models.UniqueConstraint(
                fields=["hook", "event_id"],
                condition=Q(redelivery_of__isnull=True),
                name="webhook_delivery_once_per_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} delivery {self.id}"

    @property
    def payload_json(self) -> str:
        return json.dumps(self.payload, indent=2, sort_keys=True)


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)  # at most settings.WEBHOOK_RESPONSE_KEEP_BYTES of it
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_once"),
            models.CheckConstraint(
                condition=Q(status_code__isnull=True) | Q(status_code__gte=100, status_code__lte=599),
                name="webhook_attempt_status_code",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="webhook_attempt_number_positive"),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.delivery_id}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
