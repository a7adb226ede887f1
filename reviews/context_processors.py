"""What the navigation bar needs on every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from reviews.models import Notification
from reviews.rules import is_reviewer


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The unread notification count (one query, only when a page shows it) and whether the
    user has a reviewer's dashboard; nothing is read for an anonymous visitor, who is offered
    to register unless REGISTRATION_MODE is closed."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "unread_notifications": 0,
            "nav_reviewer": False,
            "registration_open": settings.REGISTRATION_MODE != "closed",
        }
    return {
        "unread_notifications": SimpleLazyObject(
            lambda: Notification.objects.filter(recipient=user, read_at__isnull=True).count()
        ),
        "nav_reviewer": is_reviewer(user),
    }
