"""The API's only way in: a bearer token. What a client sees for every kind of refused token,
what each use records, and that a token's scope limits what it may change."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from api.enums import TokenScope
from api.models import ApiToken
from api.services.tokens import token_revoke
from reviews.models import ActivityEntry, Notification
from tests.api.client import client_with, make_token

ME = "/api/v1/me/"

pytestmark = pytest.mark.django_db


def _refused(response, sentence: str) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="MISyn Review API"'
    assert response.json()["detail"] == sentence


def test_no_token_is_401_with_the_bearer_challenge():
    response = client_with(None).get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert "credentials were not provided" in response.json()["detail"]


def test_a_signed_in_browser_session_does_not_open_the_api(researcher):
    """No session authentication: a page's cookie cannot be ridden by another site's form."""
    browser = Client()
    browser.force_login(researcher)
    assert browser.get(ME).status_code == 401


@pytest.mark.parametrize(
    ("header", "sentence"),
    [
        ("Bearer", "The Authorization header must be “Bearer <token>”."),
        ("Bearer msr_one msr_two", "The Authorization header must be “Bearer <token>”."),
        ("Bearer ghp_0123456789abcdef", "This is not a MISyn Review token (they start with “msr_”)."),
        ("Bearer msr_ünïcode", "The token contains characters a token never has."),
        ("Token msr_0123456789abcdef", "Send the token as “Authorization: Bearer msr_…”, not “Token”."),
        ("Basic dXNlcjpwYXNz", "Send the token as “Authorization: Bearer msr_…”, not “Basic”."),
    ],
)
def test_a_malformed_header_is_refused_with_a_sentence(header, sentence):
    response = Client().get(ME, HTTP_AUTHORIZATION=header.encode().decode("latin-1"))
    _refused(response, sentence)


def test_an_unknown_token_is_refused(researcher):
    _token, raw = make_token(researcher)
    _refused(client_with(raw[:-1] + ("A" if raw[-1] != "A" else "B")).get(ME), "Unknown token.")


def test_an_expired_token_is_refused_with_its_expiry(researcher):
    token, raw = make_token(researcher)
    past = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=token.pk).update(created_at=past - timedelta(days=30), expires_at=past)
    _refused(client_with(raw).get(ME), f"This token expired on {past:%Y-%m-%d %H:%M} UTC.")


def test_a_revoked_token_is_refused(researcher):
    token, raw = make_token(researcher)
    assert client_with(raw).get(ME).status_code == 200
    token_revoke(actor=researcher, token=token)
    _refused(client_with(raw).get(ME), "This token was revoked.")


def test_an_administrator_deactivating_the_account_stops_its_tokens(researcher, admin_user):
    _token, raw = make_token(researcher)
    assert client_with(raw).get(ME).status_code == 200

    admin = Client()
    admin.force_login(admin_user)
    response = admin.post(
        reverse("user-edit", kwargs={"pk": researcher.pk}),
        {"full_name": researcher.full_name, "email": researcher.email, "affiliation": "", "role": researcher.role,
         "expertise": "", "is_active": ""},
    )  # fmt: skip
    assert response.status_code == 302
    researcher.refresh_from_db()
    assert not researcher.is_active

    _refused(client_with(raw).get(ME), "The token's account is deactivated.")


def test_every_use_records_when_and_from_where(researcher):
    token, raw = make_token(researcher)
    assert token.last_used_at is None and token.last_used_ip is None
    client = client_with(raw)

    client.get(ME, REMOTE_ADDR="198.51.100.7")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and token.last_used_ip == "198.51.100.7"

    client.get(ME, REMOTE_ADDR="2001:db8::5")
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at > first
    assert token.last_used_ip == "2001:db8::5"


def test_a_use_is_written_once_a_minute_per_address(researcher, monkeypatch):
    """The token pages show the last use to the minute: more uses within a minute of the recorded
    one from the same address write nothing (a write and commit per API request cost more than the
    request), while a new address, or a use a minute or more later, is recorded."""
    token, raw = make_token(researcher)
    client = client_with(raw)
    start = timezone.now().replace(microsecond=0)
    clock = {"now": start}
    monkeypatch.setattr("api.services.tokens.timezone.now", lambda: clock["now"])

    def use(address: str) -> tuple[int, object, object]:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(ME, REMOTE_ADDR=address).status_code == 200
        token.refresh_from_db()
        writes = sum('UPDATE "api_apitoken"' in q["sql"] for q in queries.captured_queries)
        return writes, token.last_used_at, token.last_used_ip

    assert use("198.51.100.7") == (1, start, "198.51.100.7")
    clock["now"] = start + timedelta(seconds=59)  # within the minute, the same address
    assert use("198.51.100.7") == (0, start, "198.51.100.7")
    assert use("198.51.100.8") == (1, clock["now"], "198.51.100.8")  # a new address at once
    clock["now"] = start + timedelta(seconds=59 + 60)  # a minute after the recorded use
    assert use("198.51.100.8") == (1, clock["now"], "198.51.100.8")


def test_the_raw_token_is_never_stored_only_its_sha256(researcher):
    token, raw = make_token(researcher)
    row = ApiToken.objects.filter(pk=token.pk).values().get()

    assert row["key_sha256"] == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in repr(row)
    assert raw[len("msr_") :] not in repr(row)
    assert row["prefix"] == raw[4:12]
    # Nor in the activity log or the owner's notification about it.
    assert not any(raw in repr(entry) for entry in ActivityEntry.objects.values())
    notification = Notification.objects.get(recipient=researcher, kind="api_token_created")
    assert raw not in notification.body and f"msr_{token.prefix}…" in notification.body


def test_me_says_whose_token_it_is(researcher):
    token, raw = make_token(researcher, scope=TokenScope.READ)
    body = client_with(raw).get(ME).json()
    assert body == {
        "id": researcher.pk,
        "username": researcher.username,
        "full_name": "Rosa Researcher",
        "email": researcher.email,
        "role": "researcher",
        "email_verified": True,
        "approved": True,
        "token": {
            "name": token.name,
            "prefix": f"msr_{token.prefix}…",
            "scope": "read",
            "created_at": token.created_at.isoformat().replace("+00:00", "Z"),
            "expires_at": token.expires_at.isoformat().replace("+00:00", "Z"),
        },
    }
    assert raw not in str(body)


def test_a_read_token_may_not_write(researcher):
    _token, raw = make_token(researcher, scope=TokenScope.READ)
    response = client_with(raw).post(ME, {})
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "This token may only read; create a token with the scope “read and write” to change anything."
    )
    assert client_with(raw).get(ME).status_code == 200


def test_a_write_token_passes_the_scope_check(researcher):
    """/me/ has no POST: a write token gets past the scope check to the method's 405."""
    _token, raw = make_token(researcher, scope=TokenScope.WRITE)
    response = client_with(raw).post(ME, {})
    assert response.status_code == 405
    assert response.json()["detail"] == 'Method "POST" not allowed.'
