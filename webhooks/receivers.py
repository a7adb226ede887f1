"""The webhooks app listens to reviews.events (connected in WebhooksConfig.ready)."""

from __future__ import annotations

from typing import Any

from reviews.models import Project
from webhooks.services.outbox import outbox_write


def on_event(sender: Any, *, event: str, project: Project, data: dict[str, Any], **kwargs: Any) -> None:
    outbox_write(event=str(event), project=project, data=data)
