"""Choices of the webhooks app."""

from __future__ import annotations

from django.db import models

from reviews.enums import EventKind


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


# A hook's own test event: not a domain event, so not in reviews.enums.EventKind.
PING = "ping"


class DeliveryEvent(models.TextChoices):
    AUDIT_RUN_FINISHED = EventKind.AUDIT_RUN_FINISHED.value, EventKind.AUDIT_RUN_FINISHED.label
    PROJECT_SUBMITTED = EventKind.PROJECT_SUBMITTED.value, EventKind.PROJECT_SUBMITTED.label
    DECISION_MADE = EventKind.DECISION_MADE.value, EventKind.DECISION_MADE.label
    OBJECTION_RECEIVED = EventKind.OBJECTION_RECEIVED.value, EventKind.OBJECTION_RECEIVED.label
    PING = PING, "Test event"


# What each event means, for the registration form.
EVENT_MEANINGS: dict[str, str] = {
    EventKind.AUDIT_RUN_FINISHED: "an audit run over the project's image sets ended: succeeded, failed or cancelled "
    "(with each audit's verdict)",
    EventKind.PROJECT_SUBMITTED: "the researcher submitted a round for review (round number and digest)",
    EventKind.DECISION_MADE: (
        "a round ended (approved, rejected, changes requested or withdrawn), or the board suspended or "
        "reinstated an approval"
    ),
    EventKind.OBJECTION_RECEIVED: "someone sent a question or objection from the public register "
    "(its number and kind, never its text or sender); administrators only",
}
