"""The client's address (reviews.http.client_ip), as the throttles and django-axes see it.

X-Forwarded-For is "client-sent, ..., what proxy 1 saw, what proxy 2 saw": only the entries
our own proxies appended, counted from the right, can be trusted.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from reviews.http import client_ip
from tests.factories import PASSWORD

FORM = "application/x-www-form-urlencoded"


def _address(**meta: str) -> str:
    return client_ip(RequestFactory().get("/", **meta))


def test_without_trusted_proxies_a_forwarded_header_is_ignored():
    assert settings.TRUSTED_PROXY_HOPS == 0
    assert _address(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="198.51.100.1") == "203.0.113.5"


@override_settings(TRUSTED_PROXY_HOPS=1)
def test_behind_one_proxy_the_address_it_saw_is_used_not_the_client_sent_one():
    # The client sent "1.2.3.4"; our proxy appended the address it really came from.
    assert _address(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5") == "203.0.113.5"
    assert _address(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5") == "203.0.113.5"
    assert _address(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="2001:db8::7") == "2001:db8::7"


@override_settings(TRUSTED_PROXY_HOPS=2)
def test_behind_two_proxies_the_second_entry_from_the_right_is_used():
    header = "1.2.3.4, 203.0.113.5, 10.0.0.3"
    assert _address(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=header) == "203.0.113.5"


@override_settings(TRUSTED_PROXY_HOPS=2)
def test_a_header_that_did_not_pass_every_proxy_or_is_not_an_address_falls_back_to_the_peer():
    assert _address(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5") == "10.0.0.2"
    assert _address(REMOTE_ADDR="10.0.0.2") == "10.0.0.2"
    assert _address(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="<script>, 10.0.0.3") == "10.0.0.2"


def _login(client: Client, username: str, password: str, *, forwarded: str) -> int:
    response = client.post(
        reverse("login"),
        urlencode({"username": username, "password": password}),
        content_type=FORM,
        REMOTE_ADDR="10.0.0.2",  # every request arrives from the proxy
        HTTP_X_FORWARDED_FOR=forwarded,
    )
    return response.status_code


@override_settings(TRUSTED_PROXY_HOPS=1)
@pytest.mark.django_db
def test_behind_the_proxy_axes_locks_the_attacker_not_everyone(reviewer):
    """All requests come from the proxy's address; without the hop setting one attacker's
    guesses would lock the reviewer out for every client. With it, only the attacker."""
    for n in range(settings.AXES_FAILURE_LIMIT):
        # A spoofed leftmost entry changes nothing: the proxy's entry is the one used.
        _login(Client(), reviewer.username, f"guess-{n}", forwarded=f"192.0.2.{n + 1}, 203.0.113.66")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.66"}
    assert _login(Client(), reviewer.username, PASSWORD, forwarded="203.0.113.66") == 429
    assert _login(Client(), reviewer.username, PASSWORD, forwarded="203.0.113.66, 198.51.100.8") == 302


@pytest.mark.django_db
def test_without_the_hop_setting_a_spoofed_header_cannot_dodge_the_lockout(reviewer):
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), reviewer.username, f"guess-{n}", forwarded=f"192.0.2.{n + 1}")
    assert _login(Client(), reviewer.username, PASSWORD, forwarded="198.51.100.99") == 429
