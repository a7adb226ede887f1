"""Services that are down: a broker that refuses messages loses nothing and fails no page;
a database that cannot be reached answers a clear 503, not a 500."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import kombu.exceptions
import pytest
from celery import Celery, current_app
from django.db import OperationalError, ProgrammingError
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from audits.services import runs
from config import env
from reviews.enums import NotificationKind
from reviews.models import Notification
from reviews.services.notifications import notify
from reviews.services.reminders import notification_emails_reconcile

pytestmark = pytest.mark.django_db

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused


def _synthetic_set(project, user) -> ImageSet:
    return ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=user, digest="c" * 64, n_files=3, n_accepted=3
    )


@contextmanager
def broker_refusing() -> Iterator[mock.MagicMock]:
    error = kombu.exceptions.OperationalError("Error 111 connecting to redis:6379. Connection refused.")
    with mock.patch.object(Celery, "send_task", side_effect=error) as send:
        yield send


@contextmanager
def broker_recording() -> Iterator[mock.MagicMock]:
    with mock.patch.object(Celery, "send_task") as send:
        yield send


@contextmanager
def dead_broker_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    """A Celery app configured from our settings exactly as production would be with REDIS_URL
    pointing at a broker that is not there (its socket timeouts come from config.env.broker)."""
    monkeypatch.setenv("REDIS_URL", DEAD_BROKER)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    url, options = env.broker()
    previous = current_app._get_current_object()
    app = Celery("dead-broker", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = url
    app.conf.broker_transport_options = options
    app.set_current()
    try:
        yield app
    finally:
        previous.set_current()
        app.close()


def _start_run(client: Client, project) -> tuple[object, float]:
    started = time.monotonic()
    response = client.post(reverse("audit-run-start", kwargs={"pk": project.pk}))
    return response, time.monotonic() - started


# Real commits (transaction=True): the message is sent when the request's transaction commits,
# and the view reads what the failed send recorded, as in production.
@pytest.mark.django_db(transaction=True)
def test_a_refused_message_leaves_the_run_queued_says_so_and_the_reconciler_sends_it(client, project, researcher):
    _synthetic_set(project, researcher)
    client.force_login(researcher)
    with broker_refusing() as send:
        response, _elapsed = _start_run(client, project)
    assert send.call_count == 1
    run = AuditRun.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.status == RunStatus.QUEUED and run.progress_message == runs.WORKERS_UNREACHABLE
    assert run.lease_until <= timezone.now()  # due for the reconciler's next pass

    page = client.get(run.get_absolute_url())
    text = page.content.decode()
    assert page.status_code == 200
    assert f"Audit run #{run.number} is queued; the workers are unreachable right now" in text
    assert "it will start when they are back" in text

    with broker_recording() as send:
        counts = runs.reconcile_runs()
    assert counts["resent"] == 1
    send.assert_called_once_with("audits.start_run", kwargs={"run_id": run.pk})
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.progress_message == "Waiting for a worker"
    assert run.lease_until > timezone.now()


@pytest.mark.django_db(transaction=True)
def test_a_dead_broker_url_answers_the_page_quickly_and_keeps_the_run(client, project, researcher, monkeypatch):
    _synthetic_set(project, researcher)
    client.force_login(researcher)
    with dead_broker_app(monkeypatch):
        response, elapsed = _start_run(client, project)
    run = AuditRun.objects.get(project=project)
    assert response.status_code == 302
    # A generous bound: without the timeouts a hung broker held the request for a minute.
    assert elapsed < 10, f"the request took {elapsed:.1f} s with the broker down"
    assert run.status == RunStatus.QUEUED and run.progress_message == runs.WORKERS_UNREACHABLE
    assert "the workers are unreachable right now" in client.get(response["Location"]).content.decode()

    # The broker is back (the test's own: a filesystem queue, or Redis with REDIS_URL): the
    # reconciler's pass puts the start message on it. Recorded as the broker accepts it rather
    # than read back from the queue, which a live worker of another test may already have taken.
    accepted = _accepted_sends(monkeypatch)
    assert runs.reconcile_runs()["resent"] == 1
    assert ("audits.start_run", {"run_id": run.pk}) in accepted


def _accepted_sends(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """(task, kwargs) of every message the real broker accepted from now on."""
    app = current_app._get_current_object()
    real = app.send_task
    accepted: list[tuple[str, dict]] = []

    def send_task(name: str, *args: object, **kwargs: object) -> object:
        result = real(name, *args, **kwargs)  # raises, and records nothing, if the broker refuses
        accepted.append((name, dict(kwargs.get("kwargs") or {})))  # type: ignore[call-overload]
        return result

    monkeypatch.setattr(app, "send_task", send_task)
    return accepted


def test_notification_emails_wait_for_a_broker_that_is_down(researcher, reviewer, django_capture_on_commit_callbacks):
    with broker_refusing() as send, django_capture_on_commit_callbacks(execute=True):
        created = notify(
            key="outage-test",
            recipients=[researcher, reviewer],
            kind=NotificationKind.SUBMITTED,
            subject="A project was submitted",
            body="Someone submitted a project.",
        )
    assert len(created) == 2
    assert send.call_count == 1  # the first refusal stops the batch: one timeout, not one per email
    pending = Notification.objects.filter(pk__in=[n.pk for n in created], email_state=Notification.EmailState.PENDING)
    assert pending.count() == 2

    with broker_recording() as send, django_capture_on_commit_callbacks(execute=True):
        counts = notification_emails_reconcile(now=timezone.now() + timedelta(days=1))
    assert counts["emails_requeued"] == 2
    assert sorted(call.kwargs["kwargs"]["notification_id"] for call in send.call_args_list) == sorted(
        n.pk for n in created
    )


# The database -----------------------------------------------------------------------------


def _failing_execute(match: str, error: Exception):
    real = CursorWrapper.execute

    def execute(self, sql, params=None):
        if match in sql:
            raise error
        return real(self, sql, params)

    return execute


def test_a_database_that_cannot_be_reached_answers_503_even_in_the_session_middleware(researcher):
    client = Client(raise_request_exception=False)
    client.force_login(researcher)
    lost = OperationalError("server closed the connection unexpectedly")
    with mock.patch.object(CursorWrapper, "execute", _failing_execute("django_session", lost)):
        response = client.get(reverse("project-list"))
    text = response.content.decode()
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "MISyn Review is briefly unavailable" in text and "try again in about 30 seconds" in text
    assert "<script" not in text and "style=" not in text  # nothing the CSP would block


def test_a_database_lost_inside_a_view_answers_503(researcher, project):
    client = Client(raise_request_exception=False)
    client.force_login(researcher)
    lost = OperationalError("could not connect to server: Connection refused")
    with mock.patch.object(CursorWrapper, "execute", _failing_execute('"reviews_project"', lost)):
        response = client.get(reverse("project-detail", kwargs={"pk": project.pk}))
    assert response.status_code == 503 and "briefly unavailable" in response.content.decode()


def test_a_wrong_query_is_still_a_500_not_an_outage(researcher, project):
    client = Client(raise_request_exception=False)
    client.force_login(researcher)
    with mock.patch.object(CursorWrapper, "execute", _failing_execute('"reviews_project"', ProgrammingError("bad"))):
        response = client.get(reverse("project-detail", kwargs={"pk": project.pk}))
    assert response.status_code == 500 and "Something went wrong on our side" in response.content.decode()
