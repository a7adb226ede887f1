"""Webhooks with a real Celery worker (and its beat): after commit, retried, reconciled.

The worker is a separate process on the test's database; the receiver is an HTTP server in
this process that verifies each signature and timestamp.
"""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from reviews.enums import EventKind
from tests.factories import ProjectFactory, ResearcherFactory
from tests.webhooks.receiver import running_receiver
from tests.workflow import submitted
from webhooks.enums import DeliveryStatus
from webhooks.models import DeliveryAttempt, WebhookDelivery
from webhooks.services.hooks import webhook_create

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _wait_for_status(delivery: WebhookDelivery, status: str, timeout: float = 60) -> WebhookDelivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery.refresh_from_db()
        if delivery.status == status:
            return delivery
        time.sleep(0.2)
    raise AssertionError(f"delivery {delivery.pk} is {delivery.status} after {timeout} s, not {status}")


def test_submitting_a_project_delivers_project_submitted_signed_after_a_retry(start_worker, catalogue):
    start_worker(WEBHOOK_RETRY_DELAYS="1,1")
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner, guideline_version=catalogue)
    with running_receiver(statuses=[500, 200]) as receiver:
        hook = webhook_create(actor=owner, project=project, url=receiver.url, events=[EventKind.PROJECT_SUBMITTED])
        receiver.secret = hook.secret
        round_ = submitted(project)  # commits: the message goes to the worker
        delivery = _wait_for_status(WebhookDelivery.objects.get(hook=hook), DeliveryStatus.SUCCEEDED)
        received = receiver.wait_for(2)

    assert [r.verified for r in received] == [True, True]
    assert received[1].payload["event"] == "project.submitted"
    assert received[1].payload["data"] == {"round": 1, "digest": round_.digest}
    assert received[1].headers["X-MISyn-Delivery"] == str(delivery.pk)
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [a.status_code for a in attempts] == [500, 200]
    # The retry waited for its delay (1 s) before the second attempt.
    assert (attempts[1].attempted_at - attempts[0].attempted_at).total_seconds() >= 1


def test_the_reconciler_sends_a_pending_delivery_whose_message_was_lost(start_worker, catalogue):
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner, guideline_version=catalogue)
    with running_receiver() as receiver:
        hook = webhook_create(actor=owner, project=project, url=receiver.url, events=[EventKind.DECISION_MADE])
        receiver.secret = hook.secret
        # A row as the outbox writes it, but no message ever reached the broker.
        lost = WebhookDelivery.objects.create(
            hook=hook, event=EventKind.DECISION_MADE, payload={"event": "decision.made", "note": "lost message"},
            next_attempt_at=timezone.now(),
        )  # fmt: skip
        start_worker(WEBHOOK_RECONCILE_SECONDS="1")
        _wait_for_status(lost, DeliveryStatus.SUCCEEDED)
        received = receiver.wait_for(1)
    assert len(received) == 1 and received[0].verified and received[0].payload["note"] == "lost message"
