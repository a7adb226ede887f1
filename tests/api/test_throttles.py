"""Throttles of the API, with the allowances lowered for the test (DRF reads a throttle's rate
when it is created, so setting the class's `rate` is enough): a user's tokens share one
allowance, other users keep theirs, and requests without a usable token are counted per
address (X-Forwarded-For only counts behind TRUSTED_PROXY_HOPS proxies)."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.throttling import ApiAnonThrottle, ApiUserThrottle
from tests.api.client import client_with, make_token

ME = "/api/v1/me/"
OPEN = "/api/v1/open-door/"

pytestmark = pytest.mark.django_db


class OpenDoor(APIView):
    """A public operation (like the register's), with the API's default throttles."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"open": True})


# This module is also the URLconf of the tests marked below: the API plus the public operation.
urlpatterns = [
    path("api/v1/open-door/", OpenDoor.as_view()),
    *__import__("config.urls", fromlist=["urlpatterns"]).urlpatterns,
]


@pytest.fixture
def low_rates(monkeypatch):
    monkeypatch.setattr(ApiUserThrottle, "rate", "3/min", raising=False)
    monkeypatch.setattr(ApiAnonThrottle, "rate", "2/min", raising=False)


def _throttled(response) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["detail"].startswith("Request was throttled. Expected available in ")


def test_two_tokens_of_one_user_share_one_allowance(low_rates, researcher, other_researcher):
    first = client_with(make_token(researcher)[1])
    second = client_with(make_token(researcher)[1])

    assert [first.get(ME).status_code, second.get(ME).status_code, first.get(ME).status_code] == [200, 200, 200]
    _throttled(second.get(ME))
    _throttled(first.get(ME))

    # Another account is not held back by this one's requests.
    other = client_with(make_token(other_researcher)[1])
    assert other.get(ME).status_code == 200


@pytest.mark.urls(__name__)
def test_anonymous_requests_are_counted_per_address(low_rates):
    anonymous = client_with(None)
    for _ in range(2):
        assert anonymous.get(OPEN, REMOTE_ADDR="203.0.113.9").status_code == 200
    _throttled(anonymous.get(OPEN, REMOTE_ADDR="203.0.113.9"))
    # A forged X-Forwarded-For does not give the same client a fresh allowance...
    _throttled(anonymous.get(OPEN, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="192.0.2.44"))
    # ...while another address has its own.
    assert anonymous.get(OPEN, REMOTE_ADDR="203.0.113.10").status_code == 200


@pytest.mark.urls(__name__)
@override_settings(TRUSTED_PROXY_HOPS=1)
def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(low_rates):
    proxy = "10.0.0.2"
    anonymous = client_with(None)
    for _ in range(2):
        assert anonymous.get(OPEN, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 200
    _throttled(anonymous.get(OPEN, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9"))
    # Two clients behind the same proxy are two addresses; only the proxy's own entry counts.
    assert anonymous.get(OPEN, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.11").status_code == 200
    _throttled(anonymous.get(OPEN, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9"))


def test_refused_tokens_count_toward_the_address(low_rates, researcher):
    """Guessing or replaying revoked tokens is held back per address like any anonymous caller."""
    guesser = client_with("msr_" + "x" * 40)
    for _ in range(2):
        response = guesser.get(ME, REMOTE_ADDR="203.0.113.20")
        assert response.status_code == 401 and response.json()["detail"] == "Unknown token."
    _throttled(guesser.get(ME, REMOTE_ADDR="203.0.113.20"))
    assert guesser.get(ME, REMOTE_ADDR="203.0.113.21").status_code == 401

    # A valid token from the held address still works: its user's allowance is its own.
    assert client_with(make_token(researcher)[1]).get(ME, REMOTE_ADDR="203.0.113.20").status_code == 200


def test_without_the_lowered_rates_the_allowances_are_the_settings(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert ApiUserThrottle().rate == rates["api-user"]
    assert ApiAnonThrottle().rate == rates["api-anonymous"]
