"""Domain events: what happened, told to whoever listens (the webhooks app today).

A service calls `event_emit` inside the transaction of the change it reports. Receivers run
there too, so what they write (a webhook's delivery rows) commits or rolls back with the
change itself, and what they send leaves only on commit. The apps that emit know nothing of
who listens: the dependency points from the listener to reviews, never back.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from reviews.enums import EventKind
from reviews.models import Project

# Sent with event (EventKind), project (Project) and data (a dict of JSON values).
event_emitted = Signal()


def event_emit(*, event: EventKind, project: Project, data: dict[str, Any]) -> None:
    event_emitted.send(sender=EventKind, event=event, project=project, data=data)
