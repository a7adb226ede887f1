"""Throttles (reviews.throttling): a burst on each limited endpoint is answered 429 with
Retry-After and a page that says what to do, on the shared cache (Redis when REDIS_URL is
set, as in CI), and the counters hold across two connections as they do across workers.

Posts are form-encoded, as a browser sends a form.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import CacheHandler
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.urls import reverse

from audits.models import AuditRun, ImageSet
from config import env
from reviews.models import Signature, User
from reviews.throttling import throttle_check, throttle_hit
from tests.factories import PASSWORD, ResearcherFactory
from tests.workflow import reviewers_on, submitted

FORM = "application/x-www-form-urlencoded"


def post(client: Client, url: str, data: dict[str, Any] | None = None, *, address: str = "192.0.2.10") -> Any:
    return client.post(url, urlencode(data or {}), content_type=FORM, REMOTE_ADDR=address)


def limit_of(scope: str) -> int:
    return settings.THROTTLE_RATES[scope][0]


def assert_throttled(response: Any, *, scope: str, action: str) -> None:
    assert response.status_code == 429, response.status_code
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= settings.THROTTLE_RATES[scope][1]
    text = response.content.decode()
    assert f"Too many {action}" in text and "try again" in text
    # The page is the house layout under the strict CSP: no inline script or style.
    assert "<script>" not in text and "style=" not in text
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


# --- login ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_spraying_one_password_over_many_names_from_one_address_is_throttled(caplog):
    client = Client()
    limit = limit_of("login-address")
    for n in range(limit):
        response = post(client, reverse("login"), {"username": f"name{n}", "password": "Summer2026!"})
        assert response.status_code == 200  # the form again: wrong name or password
    with caplog.at_level(logging.WARNING, logger="reviews.security"):
        response = post(client, reverse("login"), {"username": "name-last", "password": "Summer2026!"})
    assert_throttled(response, scope="login-address", action="log-in attempts")
    # Logged with who, from where and what, as every other denial.
    line = next(r.getMessage() for r in caplog.records if r.name == "reviews.security")
    assert 'status=429 user="anonymous" address="192.0.2.10"' in line and 'url="/accounts/login/"' in line
    assert "throttled login-address" in line
    # Another address is not held back by this one.
    assert post(Client(), reverse("login"), {"username": "x", "password": "y"}, address="192.0.2.11").status_code == 200


@pytest.mark.django_db
def test_guessing_one_name_from_many_addresses_is_throttled_per_name(reviewer):
    limit = limit_of("login-username")
    for n in range(limit):
        response = post(Client(), reverse("login"), {"username": reviewer.username, "password": f"guess-{n}"},
                        address=f"198.51.100.{n + 1}")  # fmt: skip
        assert response.status_code == 200
    # Even the right password, from yet another address, waits for the window to close.
    client = Client()
    response = post(client, reverse("login"), {"username": reviewer.username, "password": PASSWORD},
                    address="198.51.100.200")  # fmt: skip
    assert_throttled(response, scope="login-username", action="log-in attempts")
    assert "_auth_user_id" not in client.session
    # Other names are not affected.
    other = ResearcherFactory()
    response = post(Client(), reverse("login"), {"username": other.username, "password": PASSWORD},
                    address="198.51.100.201")  # fmt: skip
    assert response.status_code == 302


@pytest.mark.django_db
def test_one_attacker_cannot_keep_a_named_reviewer_out(reviewer):
    """django-axes locks the attacker's address after AXES_FAILURE_LIMIT guesses; what they
    send after that is neither counted against the name nor stops the reviewer elsewhere."""
    attacker = Client()
    for n in range(settings.AXES_FAILURE_LIMIT + 3):
        post(
            attacker, reverse("login"), {"username": reviewer.username, "password": f"guess-{n}"}, address="203.0.113.9"
        )
    response = post(attacker, reverse("login"), {"username": reviewer.username, "password": PASSWORD},
                    address="203.0.113.9")  # fmt: skip
    assert response.status_code == 429 and "_auth_user_id" not in attacker.session
    own = Client()
    response = post(own, reverse("login"), {"username": reviewer.username, "password": PASSWORD},
                    address="198.51.100.7")  # fmt: skip
    assert response.status_code == 302 and own.session["_auth_user_id"] == str(reviewer.pk)


@pytest.mark.django_db
def test_guesses_from_many_addresses_do_not_keep_a_reviewer_out_of_her_own_browser(reviewer):
    """The browser she signed in from before carries a signed cookie naming her: the name's
    allowance, used up by guesses from elsewhere, does not apply to it (OWASP device cookies)."""
    own = Client()
    assert post(own, reverse("login"), {"username": reviewer.username, "password": PASSWORD}).status_code == 302
    own.post(reverse("logout"))
    for n in range(limit_of("login-username") + 5):
        post(Client(), reverse("login"), {"username": reviewer.username, "password": f"guess-{n}"},
             address=f"198.51.100.{n + 1}")  # fmt: skip
    stranger = Client()
    response = post(stranger, reverse("login"), {"username": reviewer.username, "password": PASSWORD},
                    address="203.0.113.50")  # fmt: skip
    assert_throttled(response, scope="login-username", action="log-in attempts")
    response = post(own, reverse("login"), {"username": reviewer.username, "password": PASSWORD})
    assert response.status_code == 302 and own.session["_auth_user_id"] == str(reviewer.pk)
    # The cookie names her only: another name from the same browser is still held to its allowance,
    # and a forged cookie counts for nothing.
    forged = Client()
    forged.cookies["misyn_device"] = f"{reviewer.username.lower()}:forged:signature"
    response = post(forged, reverse("login"), {"username": reviewer.username, "password": PASSWORD},
                    address="203.0.113.51")  # fmt: skip
    assert_throttled(response, scope="login-username", action="log-in attempts")


@pytest.mark.django_db
def test_successful_logins_do_not_use_up_the_name_allowance(reviewer):
    for n in range(limit_of("login-username") + 2):
        client = Client()
        response = post(client, reverse("login"), {"username": reviewer.username, "password": PASSWORD},
                        address=f"198.51.100.{n + 1}")  # fmt: skip
        assert response.status_code == 302


@pytest.mark.django_db
def test_an_ipv6_client_cannot_dodge_the_limit_by_rotating_addresses_in_its_network():
    limit = limit_of("login-address")
    for n in range(limit):
        post(Client(), reverse("login"), {"username": f"name{n}", "password": "x"}, address=f"2001:db8:1:2::{n + 1:x}")
    response = post(Client(), reverse("login"), {"username": "another", "password": "x"}, address="2001:db8:1:2::ffff")
    assert_throttled(response, scope="login-address", action="log-in attempts")
    # A neighbouring /64 is someone else.
    assert (
        post(Client(), reverse("login"), {"username": "x", "password": "y"}, address="2001:db8:1:3::1").status_code
        == 200
    )


# --- registration and password reset --------------------------------------------------------


def _registration(n: int) -> dict[str, str]:
    return {
        "username": f"newcomer{n}",
        "full_name": f"New Comer {n}",
        "email": f"newcomer{n}@example.org",
        "affiliation": "Somewhere",
        "password1": "a-fresh-passphrase-91",
        "password2": "a-fresh-passphrase-91",
    }


@pytest.mark.django_db
def test_registrations_from_one_address_are_throttled():
    limit = limit_of("register-address")
    for n in range(limit):
        response = post(Client(), reverse("register"), _registration(n))
        assert response.status_code == 302
    response = post(Client(), reverse("register"), _registration(99))
    assert_throttled(response, scope="register-address", action="registrations")
    assert User.objects.filter(username__startswith="newcomer").count() == limit
    assert not User.objects.filter(username="newcomer99").exists()
    # Reading the page is not an attempt.
    assert Client().get(reverse("register"), REMOTE_ADDR="192.0.2.10").status_code == 200


@pytest.mark.django_db
def test_password_reset_requests_are_throttled_per_address(researcher):
    limit = limit_of("password-reset-address")
    for n in range(limit):
        response = post(Client(), reverse("password-reset"), {"email": f"someone{n}@example.org"})
        assert response.status_code == 302
    response = post(Client(), reverse("password-reset"), {"email": researcher.email})
    assert_throttled(response, scope="password-reset-address", action="password reset requests")
    assert mail.outbox == []


@pytest.mark.django_db
def test_password_reset_requests_are_throttled_per_email(researcher):
    limit = limit_of("password-reset-email")
    for n in range(limit):
        response = post(Client(), reverse("password-reset"), {"email": researcher.email.upper()},
                        address=f"198.51.100.{n + 1}")  # fmt: skip
        assert response.status_code == 302
    assert len(mail.outbox) == limit
    response = post(Client(), reverse("password-reset"), {"email": researcher.email}, address="198.51.100.99")
    assert_throttled(response, scope="password-reset-email", action="password reset requests")
    assert len(mail.outbox) == limit


# --- signing, uploads, audit runs (per user) ------------------------------------------------


@pytest.mark.django_db
def test_signing_attempts_are_throttled_per_user(project):
    round_ = submitted(project)
    technical, _ = reviewers_on(project)
    client = Client()
    client.force_login(technical)
    url = reverse("round-sign", kwargs={"pk": project.pk, "number": round_.number})
    data = {"meaning": "not-a-meaning", "digest": round_.digest, "password": PASSWORD}
    for _ in range(limit_of("sign-user")):
        assert post(client, url, data).status_code == 400
    response = post(client, url, data)
    assert_throttled(response, scope="sign-user", action="signatures")
    assert Signature.objects.count() == 0
    # The signing page itself still opens.
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_image_set_uploads_are_throttled_per_user(project):
    client = Client()
    client.force_login(project.owner)
    url = reverse("imageset-upload", kwargs={"pk": project.pk})
    for _ in range(limit_of("upload-user")):
        assert post(client, url, {"role": "synthetic"}).status_code == 400  # no files: refused by the form
    response = post(client, url, {"role": "synthetic"})
    assert_throttled(response, scope="upload-user", action="image-set uploads")
    assert ImageSet.objects.count() == 0


@pytest.mark.django_db
def test_audit_run_requests_are_throttled_per_user(project):
    client = Client()
    client.force_login(project.owner)
    url = reverse("audit-run-start", kwargs={"pk": project.pk})
    for _ in range(limit_of("audit-run-user")):
        assert post(client, url).status_code == 302  # "upload a synthetic set first"
    response = post(client, url)
    assert_throttled(response, scope="audit-run-user", action="audit-run requests")
    assert AuditRun.objects.count() == 0
    # Per user: another researcher runs their own audits undisturbed.
    other = Client()
    other.force_login(ResearcherFactory())
    assert post(other, url).status_code == 404


# --- the counters themselves ----------------------------------------------------------------


def test_the_counters_hold_across_two_cache_connections():
    """Two gunicorn workers each open their own connection: a limit counted on one holds on the other."""
    first, second = CacheHandler()["default"], CacheHandler()["default"]
    assert first is not second
    scope = "sign-user"
    for n in range(limit_of(scope)):
        assert throttle_hit(scope, "user-42", store=first if n % 2 else second) is None
    assert throttle_check(scope, "user-42", store=first) is not None
    assert throttle_hit(scope, "user-42", store=second) is not None
    assert throttle_hit(scope, "user-43", store=first) is None


def test_the_window_closes_after_its_period():
    scope = "sign-user"
    with override_settings(THROTTLE_RATES={**settings.THROTTLE_RATES, scope: (2, 3)}):
        assert throttle_hit(scope, "u") is None
        assert throttle_hit(scope, "u") is None
        assert throttle_hit(scope, "u") in (1, 2, 3)
        time.sleep(3.2)
        assert throttle_hit(scope, "u") is None


@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
)
@pytest.mark.django_db
def test_an_unreachable_cache_lets_requests_through_and_says_so(caplog):
    """A Redis that is down must not lock everyone out; django-axes still guards the passwords."""
    with caplog.at_level(logging.ERROR, logger="reviews.throttling"):
        response = post(Client(), reverse("login"), {"username": "nobody", "password": "wrong"})
    assert response.status_code == 200
    assert any("the cache is unreachable" in r.getMessage() for r in caplog.records)


# --- where the counters live ----------------------------------------------------------------


def test_the_cache_is_redis_beside_the_broker_in_a_database_of_its_own(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("CACHE_REDIS_DB", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    assert env.cache()["LOCATION"] == "redis://redis:6379/1"
    assert env.cache()["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    monkeypatch.setenv("REDIS_URL", "redis://:secret@redis:6379/1")
    assert env.cache()["LOCATION"] == "redis://:secret@redis:6379/2"
    monkeypatch.setenv("CACHE_REDIS_DB", "1")
    with pytest.raises(ImproperlyConfigured, match="broker's database"):
        env.cache()


def test_without_redis_the_cache_is_a_folder_that_every_process_shares(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    config = env.cache()
    assert config["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert config["LOCATION"] == str(env.VAR_DIR / "cache")
