"""The tokens pages: an account's own tokens (create, shown once, revoke) and the board's list."""

from __future__ import annotations

import hashlib
import pickle
import re
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api.enums import TokenScope
from api.models import ApiToken
from api.services.tokens import TokenRefused, token_create, token_revoke
from reviews.enums import Action
from reviews.models import ActivityEntry, Notification
from reviews.services.notifications import notification_email_send
from tests.api.client import client_with, make_token
from tests.factories import ResearcherFactory

pytestmark = pytest.mark.django_db

TOKENS = "/account/tokens/"
BOARD = "/board/tokens/"
RAW = re.compile(r"msr_[A-Za-z0-9_-]{40}")


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _create(client: Client, **fields: str):
    return client.post(TOKENS, {"name": "Nightly pipeline", "scope": "read", "expires_in": "30", **fields})


def _revoke_url(token: ApiToken) -> str:
    return reverse("api-token-revoke", kwargs={"token_id": token.pk})


def test_the_urls_are_where_the_account_menu_points():
    assert reverse("api-tokens") == TOKENS and reverse("api-token-admin") == BOARD


def test_a_new_token_is_shown_once_and_never_cached(researcher):
    client = _signed_in(researcher)
    response = _create(client, name="  Nightly   pipeline ", scope="write", expires_in="90")
    # Shown in the POST's own response: a redirect would need a store to carry it to the next page.
    assert response.status_code == 201
    text = response.content.decode()
    raw = RAW.findall(text)
    assert len(set(raw)) == 1, "the page shows the new token exactly once"
    assert "it will not be shown again" in text
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=researcher)
    assert token.key_sha256 == hashlib.sha256(raw[0].encode()).hexdigest()
    assert (token.name, token.scope) == ("Nightly pipeline", TokenScope.WRITE)
    assert abs(token.expires_at - (token.created_at + timedelta(days=90))) < timedelta(seconds=5)
    assert f'<tr id="token-{token.pk}" class="table-success">' in text
    # The form is empty again, ready for another token, not refilled with this one's name.
    assert response.context["form"].is_bound is False
    # The shown token works.
    assert client_with(raw[0]).get("/api/v1/me/").json()["token"]["name"] == "Nightly pipeline"

    again = client.get(TOKENS)
    assert again.status_code == 200
    assert not RAW.search(again.content.decode())
    assert f"msr_{token.prefix}…" in again.content.decode() and "Nightly pipeline" in again.content.decode()
    assert ApiToken.objects.filter(user=researcher).count() == 1


def _cached_values() -> list[bytes]:
    """Every value this run's cache holds, as stored (pickled strings keep their UTF-8 bytes)."""
    if "RedisCache" in django_settings.CACHES["default"]["BACKEND"]:
        client = cache._cache.get_client(None, write=False)  # type: ignore[attr-defined]
        keys = client.scan_iter(match=f"{django_settings.CACHES['default']['KEY_PREFIX']}:*", count=1000)
        return [bytes(client.get(key) or b"") for key in keys]
    values = []
    for path in Path(django_settings.CACHES["default"]["LOCATION"]).glob("*.djcache"):
        with path.open("rb") as stored:
            pickle.load(stored)  # noqa: S301 (the expiry this test run wrote itself)
            values.append(zlib.decompress(stored.read()))
    return values


def test_the_raw_token_is_kept_in_no_session_and_no_cache(researcher):
    """Stored hashed means stored nowhere else: sessions sit signed but readable in django_session
    and its backups, so a raw token there would be a working credential at rest. Looked for by its
    shape, so the test holds however the page gets the token to show."""
    client = _signed_in(researcher)
    _create(client)
    assert ApiToken.objects.filter(user=researcher).count() == 1
    for when in ("after the POST", "after the next page"):
        sessions = list(Session.objects.all())
        assert sessions, "the signed-in client has a session to look into"
        for session in sessions:
            assert not RAW.search(repr(session.get_decoded())), f"a raw token is in a session {when}"
        cached = [value for value in _cached_values() if RAW.search(value.decode("utf-8", "replace"))]
        assert not cached, f"a raw token is cached {when}"
        client.get(TOKENS)


def test_the_list_says_scope_expiry_use_and_status(researcher):
    used, raw = make_token(researcher, scope=TokenScope.READ)
    client_with(raw).get("/api/v1/me/", REMOTE_ADDR="198.51.100.23")
    idle, _ = make_token(researcher, scope=TokenScope.WRITE)
    expired, _ = make_token(researcher)
    past = timezone.now() - timedelta(days=1)
    ApiToken.objects.filter(pk=expired.pk).update(created_at=past - timedelta(days=7), expires_at=past)
    revoked, _ = make_token(researcher)
    token_revoke(actor=researcher, token=revoked)

    text = _signed_in(researcher).get(TOKENS).content.decode()
    rows = {token.pk: _row(text, token) for token in (used, idle, expired, revoked)}
    assert "Read" in rows[used.pk] and "from 198.51.100.23" in rows[used.pk] and "Active" in rows[used.pk]
    assert "Read and write" in rows[idle.pk] and "never" in rows[idle.pk]
    assert "Expired" in rows[expired.pk] and "(expired)" in rows[expired.pk]
    assert "Revoked" in rows[revoked.pk] and "by Rosa Researcher" in rows[revoked.pk]
    assert "Revoke</button>" not in rows[revoked.pk] and "Revoke</button>" in rows[idle.pk]


def _row(text: str, token: ApiToken) -> str:
    match = re.search(rf'<tr id="token-{token.pk}".*?</tr>', text, re.S)
    assert match, f"token {token.pk} is not listed"
    return match.group(0)


def test_an_account_sees_only_its_own_tokens(researcher, other_researcher):
    mine, _ = make_token(researcher)
    theirs, _ = token_create(
        user=other_researcher, name="Otto's secret job", scope="read", expires_at=timezone.now() + timedelta(days=7)
    )
    text = _signed_in(researcher).get(TOKENS).content.decode()
    assert f"msr_{mine.prefix}" in text
    assert f"msr_{theirs.prefix}" not in text and "Otto's secret job" not in text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "   "}, "name", "Give the token a name that says what it is for."),
        ({"name": "x" * 101}, "name", "Ensure this value has at most 100 characters (it has 101)."),
        ({"scope": "sign"}, "scope", "Choose Read or Read and write."),
        ({"expires_in": "9999"}, "expires_in", "Choose one of the lifetimes."),
        ({"expires_in": "-1"}, "expires_in", "Choose one of the lifetimes."),
        ({"expires_in": "thirty"}, "expires_in", "Choose one of the lifetimes."),
    ],
)
def test_bad_input_is_refused_by_field_and_creates_nothing(researcher, fields, field, message):
    client = _signed_in(researcher)
    response = _create(client, **fields)
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()
    assert not RAW.search(client.get(TOKENS).content.decode())


def test_the_expiry_is_capped_by_the_setting(researcher, settings):
    settings.API_TOKEN_MAX_DAYS = 60
    client = _signed_in(researcher)
    form = client.get(TOKENS).context["form"]
    assert form.fields["expires_in"].choices == [("7", "7 days"), ("30", "30 days")]
    assert form.fields["expires_in"].initial == "30"
    assert _create(client, expires_in="90").status_code == 400
    # Nor can the service be asked for more.
    with pytest.raises(TokenRefused, match="at most 60 days"):
        token_create(user=researcher, name="long", scope="read", expires_at=timezone.now() + timedelta(days=61))

    settings.API_TOKEN_MAX_DAYS = 3
    form = client.get(TOKENS).context["form"]
    assert form.fields["expires_in"].choices == [("3", "3 days")] and form.fields["expires_in"].initial == "3"
    assert _create(client, expires_in="3").status_code == 201


def test_the_owner_is_notified_of_each_new_token(researcher):
    _create(_signed_in(researcher), name="From a stolen session?")
    notification = Notification.objects.get(recipient=researcher, kind="api_token_created")
    assert "From a stolen session?" in notification.subject
    assert "If you did not create it, revoke it" in notification.body
    assert notification.url == TOKENS and notification.email_state == Notification.EmailState.PENDING
    # The email the worker sends (reviews.send_notification_email calls this service).
    assert notification_email_send(notification_id=notification.pk)
    (email,) = mail.outbox
    assert email.to == [researcher.email] and "From a stolen session?" in email.subject
    assert "msr_" in email.body and "If you did not create it, revoke it" in email.body


def test_revoking_stops_the_token_and_says_so_and_a_second_time_says_it_already_was(researcher):
    token, raw = make_token(researcher)
    client = _signed_in(researcher)

    response = client.post(_revoke_url(token), follow=True)
    assert response.redirect_chain == [(TOKENS, 302)]
    assert f"The token “{token.name}” (msr_{token.prefix}…) is revoked: it no longer works." in _messages(response)
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == researcher
    assert client_with(raw).get("/api/v1/me/").status_code == 401
    entry = ActivityEntry.objects.get(object_type="api.apitoken", object_id=str(token.pk), action=Action.CHANGE)
    assert entry.new == {"revoked": True} and entry.actor == researcher

    revoked_at = token.revoked_at
    second = client.post(_revoke_url(token), follow=True)
    assert "was already revoked, by Rosa Researcher" in _messages(second)
    token.refresh_from_db()
    assert token.revoked_at == revoked_at


def _messages(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


def test_another_accounts_token_is_not_found(researcher, other_researcher, reviewer):
    token, raw = make_token(researcher)
    for outsider in (other_researcher, reviewer):
        response = _signed_in(outsider).post(_revoke_url(token))
        assert response.status_code == 404
        assert token.name not in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    assert client_with(raw).get("/api/v1/me/").status_code == 200


def test_revoke_returns_only_to_a_page_of_this_site(researcher):
    token, _ = make_token(researcher)
    response = _signed_in(researcher).post(_revoke_url(token), {"next": "https://evil.example/phish"})
    assert response["Location"] == TOKENS


def test_only_administrators_list_every_token(researcher, reviewer):
    for user in (researcher, reviewer):
        response = _signed_in(user).get(BOARD)
        assert response.status_code == 403
        assert "only administrators see every account" in response.content.decode()


@pytest.fixture
def many_tokens(researcher, other_researcher, reviewer):
    read, _ = make_token(researcher, scope=TokenScope.READ)
    write, _ = make_token(other_researcher, scope=TokenScope.WRITE)
    expired, _ = make_token(reviewer, scope=TokenScope.READ)
    past = timezone.now() - timedelta(hours=1)
    ApiToken.objects.filter(pk=expired.pk).update(created_at=past - timedelta(days=7), expires_at=past)
    revoked, _ = make_token(reviewer, scope=TokenScope.WRITE)
    token_revoke(actor=reviewer, token=revoked)
    return {"read": read, "write": write, "expired": expired, "revoked": revoked}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["revoked", "write", "read", "expired"]),  # newest first (the expired one was made 8 days ago)
        ("?status=active", ["write", "read"]),
        ("?status=expired", ["expired"]),
        ("?status=revoked", ["revoked"]),
        ("?scope=write", ["revoked", "write"]),
        ("?scope=read&status=active", ["read"]),
        ("?q=Otto", ["write"]),
        ("?q=Rita+Reviewer&status=expired", ["expired"]),
        ("?sort=created", ["expired", "read", "write", "revoked"]),
    ],
)
def test_the_board_lists_and_filters_every_token(admin_user, many_tokens, query, expected):
    response = _signed_in(admin_user).get(BOARD + query)
    assert response.status_code == 200
    assert [token.pk for token in response.context["tokens"]] == [many_tokens[name].pk for name in expected]


def test_the_board_finds_a_token_by_its_visible_start(admin_user, many_tokens):
    prefix = many_tokens["write"].prefix
    response = _signed_in(admin_user).get(BOARD, {"q": f"msr_{prefix}…"})
    assert [token.pk for token in response.context["tokens"]] == [many_tokens["write"].pk]


def test_a_bad_filter_lists_nothing_and_names_the_field(admin_user, many_tokens):
    response = _signed_in(admin_user).get(BOARD + "?status=stolen")
    assert response.status_code == 200
    assert list(response.context["tokens"]) == []
    assert "<strong>Status</strong>: Select a valid choice." in response.content.decode()


def test_an_administrator_revokes_anyones_token_and_returns_to_the_filtered_list(admin_user, many_tokens, researcher):
    token = many_tokens["read"]
    back = BOARD + "?scope=read&status=active"
    response = _signed_in(admin_user).post(_revoke_url(token), {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    token.refresh_from_db()
    assert token.revoked_by == admin_user
    # The owner sees who did it.
    row = _row(_signed_in(researcher).get(TOKENS).content.decode(), token)
    assert "Revoked" in row and "by Ada Admin" in row


@pytest.mark.parametrize("count", [1, 12])
def test_the_pages_run_a_fixed_number_of_queries(admin_user, django_assert_num_queries, count):
    owner = ResearcherFactory()
    for n in range(count):
        token, _ = make_token(owner)
        if n % 3 == 0:
            token_revoke(actor=admin_user, token=token)
    board, own = _signed_in(admin_user), _signed_in(owner)
    # session, user, count, unread notifications (the menu), the page of tokens with their accounts and revokers
    with django_assert_num_queries(5):
        assert len(board.get(BOARD).context["tokens"]) == count
    with django_assert_num_queries(5):
        assert len(own.get(TOKENS).context["tokens"]) == count


def test_hostile_names_are_stored_as_typed_and_shown_escaped(researcher):
    client = _signed_in(researcher)
    script = "<script>alert('token')</script>"
    created = _create(client, name=script)
    assert created.status_code == 201
    assert ApiToken.objects.get(user=researcher).name == script
    for text in (created.content.decode(), client.get(TOKENS).content.decode()):
        assert script not in text and "&lt;script&gt;alert(&#x27;token&#x27;)&lt;/script&gt;" in text


@pytest.mark.parametrize("name", ["null\x00byte", "x" * 5000])
def test_a_refused_name_is_kept_in_the_form(researcher, name):
    response = _create(_signed_in(researcher), name=name, scope="write", expires_in="7")
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["name"] and form["name"].value() == name
    assert form["scope"].value() == "write" and form["expires_in"].value() == "7"
    assert not ApiToken.objects.exists()


def test_the_django_admin_revokes_through_the_service(admin_user, researcher):
    token, raw = make_token(researcher)
    response = _signed_in(admin_user).post(
        reverse("admin:api_apitoken_changelist"), {"action": "revoke_selected", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_by == admin_user
    assert client_with(raw).get("/api/v1/me/").status_code == 401
    assert ActivityEntry.objects.filter(object_type="api.apitoken", object_id=str(token.pk), new={"revoked": True})
    # Nothing is added, changed or deleted there, and the stored digest is not shown.
    page = _signed_in(admin_user).get(reverse("admin:api_apitoken_change", args=[token.pk])).content.decode()
    assert token.key_sha256 not in page
    assert _signed_in(admin_user).get(reverse("admin:api_apitoken_add")).status_code == 403
