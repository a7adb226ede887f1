"""Sessions end after an idle hour and after a working day (reviews.sessions).

Time is moved by rewriting the times the session holds, as the passing hours would."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from reviews.sessions import LAST_ACTIVITY, STARTED
from tests.factories import PASSWORD


def _signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    assert client.get(reverse("project-list")).status_code == 200
    return client


def _age(client: Client, *, idle: int = 0, since_login: int = 0) -> None:
    session = client.session
    now = int(time.time())
    session[LAST_ACTIVITY] = now - idle
    session[STARTED] = now - since_login
    session.save()


def test_the_defaults_are_a_working_day_and_an_idle_hour():
    assert settings.SESSION_COOKIE_AGE == 8 * 3600
    assert settings.SESSION_IDLE_SECONDS == 3600


@pytest.mark.django_db
def test_an_idle_hour_ends_the_session_and_the_login_page_says_why(researcher):
    client = _signed_in(researcher)
    _age(client, idle=settings.SESSION_IDLE_SECONDS + 5)
    response = client.get(reverse("project-list"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    page = response.content.decode()
    assert "Your session expired after 60 minutes without activity" in page
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_activity_within_the_hour_keeps_the_session(researcher):
    client = _signed_in(researcher)
    _age(client, idle=settings.SESSION_IDLE_SECONDS - 120, since_login=settings.SESSION_IDLE_SECONDS)
    assert client.get(reverse("project-list")).status_code == 200
    assert int(time.time()) - client.session[LAST_ACTIVITY] < 5
    assert client.get(reverse("project-list")).status_code == 200


@pytest.mark.django_db
def test_a_working_day_ends_the_session_however_active(researcher):
    client = _signed_in(researcher)
    _age(client, idle=10, since_login=settings.SESSION_COOKIE_AGE + 5)
    response = client.get(reverse("project-list"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "Your session expired: sessions last 8 hours" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kwarg"), [("audit-run-status", "run_pk"), ("imageset-status", "set_pk")])
def test_polling_progress_is_not_activity(project, name, kwarg):
    """The run and ingest pages poll on their own while open: that keeps nobody signed in."""
    client = _signed_in(project.owner)
    _age(client, idle=600)
    before = client.session[LAST_ACTIVITY]
    client.get(reverse(name, kwargs={"pk": project.pk, kwarg: 999999}))
    assert client.session[LAST_ACTIVITY] == before
    client.get(reverse("project-list"))
    assert client.session[LAST_ACTIVITY] > before


@pytest.mark.django_db
def test_a_new_login_starts_a_fresh_day(researcher):
    client = Client()
    response = client.post(
        reverse("login"),
        urlencode({"username": researcher.username, "password": PASSWORD}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 302
    assert abs(client.session[STARTED] - time.time()) < 5
    assert client.get(reverse("project-list")).status_code == 200
