"""Malformed and hostile values in the register's search, filters, page numbers and setting:
each is named or ignored, never a 500, and shown escaped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from public.models import Listing, RegisterSettings
from tests.public.register_world import approved, set_listing

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def listed(catalogue, researcher, admin_user):  # type: ignore[no-untyped-def]
    set_listing(Listing.OPT_IN)
    return approved(researcher, catalogue, title="A 100% synthetic_set", admin=admin_user)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "\x00"}, "Null characters are not allowed."),
        ({"q": "a" * 201}, "Ensure this value has at most 200 characters (it has 201)."),
        ({"task": SCRIPT}, "Select a valid choice."),
        ({"modality": "CT' OR 1=1 --"}, "Select a valid choice."),
    ],
    ids=["null", "too-long", "script-task", "sql-modality"],
)
def test_a_bad_search_is_named_and_kept_escaped(client, listed, params, message):
    response = client.get(reverse("public-register"), params)
    body = response.content.decode()
    assert response.status_code == 400
    assert message.replace("'", "&#x27;") in body or message in body
    assert SCRIPT not in body
    assert "A 100% synthetic_set" not in body  # a refused search lists nothing


@pytest.mark.parametrize(
    ("q", "found"),
    [(SCRIPT, False), ("100%", True), ("_set", True), ("%", True), ("'; DROP TABLE reviews_round; --", False)],
    ids=["script", "percent-word", "underscore-word", "percent", "sql"],
)
def test_search_words_are_text_not_patterns(client, listed, q, found):
    response = client.get(reverse("public-register"), {"q": q})
    body = response.content.decode()
    assert response.status_code == 200
    assert ("A 100% synthetic_set" in body) == found
    assert SCRIPT not in body
    if q == SCRIPT:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # kept in the search field, escaped


@pytest.mark.parametrize("page", ["abc", "-1", "0", "1e9", "99999999999999999999999", SCRIPT])
def test_a_hostile_page_number_shows_a_page_or_says_why(client, listed, page):
    response = client.get(reverse("public-register"), {"page": page})
    assert response.status_code == 200 and "A 100% synthetic_set" in response.content.decode()
    answer = client.get(reverse("public-register-json"), {"page": page})
    assert answer.status_code == 404
    assert answer.json() == {"error": "No such page: pages are numbered 1 to 1."}


@pytest.mark.parametrize(
    "data",
    [{"listing": SCRIPT}, {"listing": ""}, {"listing": "mandatory" * 100}, {}],
    ids=["script", "empty", "long", "nothing"],
)
def test_a_hostile_setting_is_refused_and_nothing_changes(client, admin_user, data):
    client.force_login(admin_user)
    response = client.post(reverse("register-settings"), data)
    body = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice" in body or "This field is required." in body
    assert SCRIPT not in body
    assert not RegisterSettings.objects.exists()
