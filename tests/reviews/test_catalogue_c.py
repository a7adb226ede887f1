"""The catalogue pages show users what they should read: the editors' notes on how the
catalogue was compiled ("the paper's full text was not available") only to administrators."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

INTERNAL = "the paper&#x27;s full text was not available"


@pytest.mark.parametrize("who", ["researcher", "reviewer"])
def test_a_user_sees_the_checklist_but_not_the_editors_notes(request, catalogue, who):
    client = Client()
    client.force_login(request.getfixturevalue(who))
    page = client.get(reverse("catalogue-detail", kwargs={"pk": catalogue.pk})).content.decode()
    assert "PF-1" in page and "State the concrete clinical or real-world problem" in page
    assert INTERNAL not in page and "Editor&#x27;s notes" not in page and "arXiv 2503.08720" not in page


def test_an_administrator_finds_the_editors_notes_behind_a_disclosure(catalogue, admin_user):
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("catalogue-detail", kwargs={"pk": catalogue.pk})).content.decode()
    notes = page[page.index('<details class="small text-muted mb-3 catalogue-notes">') :]
    assert "shown to administrators only" in notes[:300] and INTERNAL in notes[: notes.index("</details>")]
