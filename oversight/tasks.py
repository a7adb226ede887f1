"""Celery tasks of the board dashboard: a thin adapter around oversight.snapshot."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from oversight.snapshot import board_snapshot_refresh

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


@shared_task(name="oversight.refresh_board_snapshot", autoretry_for=TRANSIENT, retry_backoff=2, max_retries=3)
def refresh_board_snapshot() -> str:
    """Recompute the unfiltered board (beat, every BOARD_SNAPSHOT_SECONDS). Safe to run twice:
    the newer snapshot replaces the older. Returns when the figures were computed."""
    figures = board_snapshot_refresh()
    return figures.as_of.isoformat() if figures.as_of else ""
