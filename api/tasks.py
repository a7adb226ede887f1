"""Celery tasks of the api app: adapters that call one service each (safe to run twice)."""

from __future__ import annotations

from celery import shared_task

from api.services.uploads import uploads_expire


@shared_task(name="api.expire_uploads")
def expire_uploads() -> int:
    """Beat, hourly: delete the resumable uploads left unused past their expiry."""
    return uploads_expire()
