"""Password reset: Django's views in the house templates, linked from the login page, with
the same answer whether or not an address has an account."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from reviews.models import ActivityEntry
from tests.factories import PASSWORD, ResearcherFactory

FORM = "application/x-www-form-urlencoded"
NEW_PASSWORD = "a-brand-new-passphrase-58"


def post(client: Client, url: str, data: dict[str, str]) -> object:
    return client.post(url, urlencode(data), content_type=FORM)


def _logs_in(username: str, password: str) -> bool:
    client = Client()
    post(client, reverse("login"), {"username": username, "password": password})
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_the_login_page_links_to_the_reset_page():
    page = Client().get(reverse("login")).content.decode()
    assert f'href="{reverse("password-reset")}"' in page and "Forgot your password?" in page


@pytest.mark.django_db
def test_a_researcher_resets_a_forgotten_password_with_the_emailed_link(researcher):
    client = Client()
    assert "Reset your password" in client.get(reverse("password-reset")).content.decode()
    response = post(client, reverse("password-reset"), {"email": researcher.email})
    assert response["Location"] == reverse("password-reset-done")
    assert "Check your email" in client.get(response["Location"]).content.decode()

    [message] = mail.outbox
    assert message.to == [researcher.email] and "Reset your password" in message.subject
    link = re.search(r"https?://\S+", message.body).group(0)
    # SITE_URL is not set in the tests: the link uses the address the request came to (config.site).
    assert link.startswith("http://testserver/accounts/password/reset/")
    path = "/" + link.split("/", 3)[3]

    form_page = client.get(path, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    response = post(client, set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response["Location"] == reverse("password-reset-complete")
    assert "Your password is changed" in client.get(response["Location"]).content.decode()

    assert _logs_in(researcher.username, NEW_PASSWORD)
    assert not _logs_in(researcher.username, PASSWORD)
    assert ActivityEntry.objects.filter(object_id=str(researcher.pk), new={"password": "changed"}).exists()

    # The link works once.
    again = Client().get(path, follow=True).content.decode()
    assert "This link no longer works" in again


@pytest.mark.django_db
def test_an_unknown_address_gets_the_same_answer_and_no_email(researcher):
    known = post(Client(), reverse("password-reset"), {"email": researcher.email})
    unknown = post(Client(), reverse("password-reset"), {"email": "nobody-here@example.org"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    inactive = ResearcherFactory(is_active=False)
    post(Client(), reverse("password-reset"), {"email": inactive.email})
    assert [m.to for m in mail.outbox] == [[researcher.email]]


@pytest.mark.django_db
def test_a_weak_new_password_is_refused_with_the_reason(researcher):
    client = Client()
    post(client, reverse("password-reset"), {"email": researcher.email})
    path = "/" + re.search(r"https?://\S+", mail.outbox[0].body).group(0).split("/", 3)[3]
    set_url = client.get(path, follow=True).redirect_chain[-1][0]
    response = post(client, set_url, {"new_password1": "short", "new_password2": "short"})
    assert response.status_code == 200 and "too short" in response.content.decode()
    assert _logs_in(researcher.username, PASSWORD)


@pytest.mark.django_db
def test_someone_signed_in_changes_their_password_instead(researcher):
    client = Client()
    client.force_login(researcher)
    assert client.get(reverse("password-reset"))["Location"] == reverse("password-change")
    response = post(client, reverse("password-reset"), {"email": "victim@example.org"})
    assert response["Location"] == reverse("password-change")
    assert mail.outbox == []
