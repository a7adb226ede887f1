"""Receivers of other apps' signals that the reviews app acts on."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest

from reviews.middleware import log_denial


@receiver(user_locked_out)
def _log_lockout(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
    """django-axes refused a login (at the lockout and at each attempt during it)."""
    status = getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429)
    log_denial(request, status, "locked out after repeated failed logins (django-axes)")
