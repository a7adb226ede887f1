"""Accounts a board can run: an admin's new account gets an invitation to choose its own
password, the lockout says how long in words, email links use the site's real address, and
refusals (403, 405) say why and what to do."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from config import env, site
from reviews.enums import ExpertiseKind, Role
from reviews.models import User
from reviews.services.accounts import InvitationTokenGenerator, user_create
from reviews.views.accounts import _duration_words
from tests.factories import ResearcherFactory

NEW = {
    "username": "cleo",
    "full_name": "Cleo Clinician",
    "email": "cleo@example.org",
    "affiliation": "University Hospital",
    "role": Role.REVIEWER,
    "expertise": ExpertiseKind.CLINICAL,
}
CHOSEN = "a-passphrase-of-her-own-58"


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def _invitation_link(message) -> str:
    return re.search(r"https?://\S+/accounts/password/reset/\S+", message.body).group(0)


def test_an_admin_creates_an_account_and_its_owner_chooses_the_password_from_the_invitation(
    admin_user, django_capture_on_commit_callbacks
):
    admin = Client()
    admin.force_login(admin_user)
    form = admin.get(reverse("user-new")).content.decode()
    assert 'type="password"' not in form and "share it privately" not in form and "invitation" in form

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("user-new"), NEW, follow=True)
    assert "We emailed cleo@example.org an invitation to choose a password" in _text(response)
    cleo = User.objects.get(username="cleo")
    assert not cleo.has_usable_password()  # nobody knows a password for it, the admin included
    assert "invited, no password yet" in _text(admin.get(reverse("user-list")))

    [message] = mail.outbox
    assert message.to == ["cleo@example.org"] and "choose your password" in message.subject
    assert "Your user name is cleo" in message.body and "within 7 days" in message.body
    link = _invitation_link(message)
    assert link.startswith("http://testserver/accounts/password/reset/")  # the address the admin used

    person = Client()
    page = person.get(link, follow=True)
    assert "Welcome, Cleo Clinician" in _text(page) and "Set my password and log in" in _text(page)
    response = person.post(page.redirect_chain[-1][0], {"new_password1": CHOSEN, "new_password2": CHOSEN}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("home")
    assert "your password is set and you are logged in" in _text(response)
    assert person.session["_auth_user_id"] == str(cleo.pk)
    cleo.refresh_from_db()
    assert cleo.check_password(CHOSEN)

    # The link worked once: it is dead now that the account has a password.
    again = Client().get(link, follow=True)
    assert "This link no longer works" in _text(again)


def test_an_expired_invitation_is_renewed_by_the_admin_or_by_forgot_password(admin_user):
    cleo = user_create(actor=admin_user, **NEW)
    admin = Client()
    admin.force_login(admin_user)
    page = admin.get(reverse("user-edit", kwargs={"pk": cleo.pk}))
    assert "has not chosen a password yet" in _text(page)
    response = admin.post(reverse("user-edit", kwargs={"pk": cleo.pk}), {"action": "resend-invitation"}, follow=True)
    assert "We sent a new invitation to cleo@example.org" in _text(response)
    assert len(mail.outbox) == 1 and "/accounts/password/reset/" in mail.outbox[0].body

    # Django skips accounts without a password; an invited person asking for a link gets one.
    Client().post(reverse("password-reset"), {"email": "CLEO@example.org"})
    assert len(mail.outbox) == 2 and mail.outbox[1].to == ["cleo@example.org"]
    person = Client()
    page = person.get(_invitation_link(mail.outbox[1]), follow=True)
    assert "Welcome, Cleo Clinician" in _text(page)


def test_the_lockout_says_how_long_in_words(researcher):
    attacker = Client()
    for attempt in range(10):
        response = attacker.post(reverse("login"), {"username": researcher.username, "password": f"guess-{attempt}"})
        if response.status_code == 429:
            break
    assert response.status_code == 429
    text = _text(response)
    assert "locked for 15 minutes" in text and "Try again in 15 minutes" in text and "PT15M" not in text
    assert reverse("password-reset") in response.content.decode()


@pytest.mark.parametrize(
    ("minutes", "words"),
    [(15, "15 minutes"), (1, "1 minute"), (60, "1 hour"), (90, "1 hour 30 minutes"), (2 * 24 * 60, "2 days")],
)
def test_durations_read_as_words(minutes, words):
    assert _duration_words(timedelta(minutes=minutes)) == words


# ---- the site's address in email links --------------------------------------------------------


def test_without_site_url_links_use_the_address_requests_arrive_at(settings, researcher, monkeypatch):
    settings.SITE_URL, settings.SITE_URL_CONFIGURED = "http://127.0.0.1:8000", False
    monkeypatch.setattr(site, "_seen", "")
    client = Client()
    client.get(reverse("login"), HTTP_HOST="localhost:8011")
    assert site.site_url() == "http://localhost:8011"  # a worker's email later links there too
    client.post(reverse("password-reset"), {"email": researcher.email}, HTTP_HOST="localhost:8011")
    assert "http://localhost:8011/accounts/password/reset/" in mail.outbox[-1].body


def test_a_configured_site_url_wins_over_the_request(settings, researcher):
    settings.SITE_URL, settings.SITE_URL_CONFIGURED = "https://review.example.org", True
    Client().post(reverse("password-reset"), {"email": researcher.email}, HTTP_HOST="localhost:8011")
    assert "https://review.example.org/accounts/password/reset/" in mail.outbox[-1].body


def test_site_url_from_the_environment_is_checked_at_start_up(monkeypatch):
    monkeypatch.delenv("SITE_URL", raising=False)
    monkeypatch.setenv("PORT", "8123")
    assert env.site_url() == ("http://127.0.0.1:8123", False)  # `PORT=8123 make run`
    monkeypatch.setenv("SITE_URL", "https://review.example.org/")
    assert env.site_url() == ("https://review.example.org", True)
    for wrong in ("review.example.org", "ftp://review.example.org", "https://review.example.org:99999"):
        monkeypatch.setenv("SITE_URL", wrong)
        with pytest.raises(ImproperlyConfigured, match="SITE_URL"):
            env.site_url()


# ---- refusals --------------------------------------------------------------------------------


def test_the_403_page_says_why_and_what_to_do(researcher):
    client = Client()
    client.force_login(researcher)
    response = client.get(reverse("user-list"), HTTP_REFERER="http://testserver/projects/")
    assert response.status_code == 403
    text = _text(response)
    assert "Why: only administrators manage accounts." in text
    assert f"You are logged in as {researcher.username} (researcher)" in text and "ask an administrator" in text
    assert 'href="http://testserver/projects/"' in response.content.decode()
    assert "You can see this, but you may not change it" not in text
    # A referer from another site is not offered as a way back.
    other = client.get(reverse("user-list"), HTTP_REFERER="https://evil.example/")
    assert "evil.example" not in other.content.decode()


def test_a_get_on_a_post_only_address_is_a_page_of_the_site_that_leads_back(admin_user, researcher):
    client = Client()
    client.force_login(admin_user)
    url = reverse("user-approve", kwargs={"pk": researcher.pk})  # the Approve button's address
    response = client.get(url, HTTP_REFERER="http://testserver/staff/users/")
    assert response.status_code == 405 and response["Allow"] == "POST"
    page, text = response.content.decode(), _text(response)
    assert "This address only accepts form submissions" in text and "Nothing was changed" in text
    assert 'href="http://testserver/staff/users/">Back to the previous page' in page
    assert f'href="/staff/users/{researcher.pk}/">Up one level' in page  # the account's page
    assert 'class="navbar' in page  # in the site's layout


@pytest.mark.django_db
def test_a_logout_by_get_gets_the_405_page_with_the_allow_header():
    client = Client()
    client.force_login(ResearcherFactory())
    response = client.get(reverse("logout"))
    assert response.status_code == 405 and response["Allow"] == "POST, OPTIONS"
    assert "This address only accepts form submissions" in _text(response)
    assert client.session.get("_auth_user_id")  # still logged in: nothing was changed


def test_a_script_asking_for_json_keeps_the_bare_405(researcher):
    client = Client()
    client.force_login(researcher)
    response = client.get(reverse("logout"), HTTP_ACCEPT="application/json")
    assert response.status_code == 405 and response.content == b""


@pytest.mark.parametrize(
    ("age", "works"), [(timedelta(hours=2), True), (timedelta(days=6), True), (timedelta(days=8), False)]
)
def test_an_invitation_link_works_for_invitation_days_not_the_reset_hour(
    admin_user, settings, django_capture_on_commit_callbacks, age, works
):
    """The email promises INVITATION_DAYS (7); a password reset link lasts an hour."""
    assert settings.INVITATION_DAYS == 7 and settings.PASSWORD_RESET_TIMEOUT == 3600
    with django_capture_on_commit_callbacks(execute=True):
        cleo = user_create(actor=admin_user, **NEW)
    link = _invitation_link(mail.outbox[0])
    with mock.patch.object(InvitationTokenGenerator, "_now", return_value=datetime.now() + age):
        page = Client().get(link, follow=True)
    assert ("Welcome, Cleo Clinician" in _text(page)) is works
    assert ("This link no longer works" in _text(page)) is not works
    cleo.refresh_from_db()
    assert not cleo.has_usable_password()
