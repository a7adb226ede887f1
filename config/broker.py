"""Celery messages sent after commit, never the cause of an error page.

The database is the ledger (DESIGN.md): the row that needs a worker (a queued audit run, an
ingest, a pending email) is committed first, and its message only wakes a worker up. When
the broker cannot take the message, the send is logged and dropped: the row stays queued,
and a reconciler sends it again once the broker is back (audits.reconcile_runs,
reviews.send_review_reminders). Answering 500 after the rows committed would tell the user
that nothing happened when it did.

How long one send may hold a request is bounded in the settings: the broker's connect and
socket timeouts (config.env.broker) and CELERY_TASK_PUBLISH_RETRY_POLICY.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)

# What an unreachable or failing broker raises: kombu wraps most connection errors in its
# OperationalError; the rest arrive as socket, redis or timeout errors.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    kombu.exceptions.OperationalError,
    redis.exceptions.RedisError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def send_after_commit(task: str, kwargs: dict[str, Any], *, unreachable: Callable[[], object] | None = None) -> None:
    """Send `task` with `kwargs` once the current transaction commits (at once outside one).

    `unreachable` is called when the broker refused the message, after the commit, to record
    on the row that it waits for the workers (it must not raise; if it does, it is logged).
    """
    send_many_after_commit(task, [kwargs], unreachable=unreachable)


def send_many_after_commit(
    task: str, messages: Iterable[dict[str, Any]], *, unreachable: Callable[[], object] | None = None
) -> None:
    """Several messages of one task; after the first failure the rest wait for the reconciler,
    so that a broker that is down costs one timeout, not one per message."""
    batch = list(messages)
    if batch:
        transaction.on_commit(lambda: _send_all(task, batch, unreachable))


def _send_all(task: str, batch: list[dict[str, Any]], unreachable: Callable[[], object] | None) -> bool:
    for position, kwargs in enumerate(batch):
        try:
            current_app.send_task(task, kwargs=kwargs)
        except BROKER_ERRORS as error:
            log.warning(
                "broker unreachable: %s %s and %d more not sent (%s: %s); they stay queued for the reconciler",
                task,
                kwargs,
                len(batch) - position - 1,
                type(error).__name__,
                error,
            )
            _call_quietly(unreachable)
            return False
        except Exception:
            # Not a broker outage (a message that cannot be encoded, say): a bug to fix, but the
            # change it follows is committed, so the request must not fail with it either.
            log.exception("sending %s %s failed; it stays queued for the reconciler", task, kwargs)
            return False
    return True


def _call_quietly(callback: Callable[[], object] | None) -> None:
    if callback is None:
        return
    try:
        callback()
    except Exception:
        log.exception("recording that the workers are unreachable failed")
