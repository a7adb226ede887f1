"""A NUL character in a page's address (found by tests/test_hostile_probe.py): the pages with a
text part in their address (an item's code) looked it up in PostgreSQL, which refuses a NUL in
any text parameter with an error, and answered 500. No page is named so: 404, nothing changed."""

from __future__ import annotations

import pytest
from django.test import Client

from reviews.models import Answer, GuidelineItem


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_item_code_with_a_nul_is_not_found_on_the_checklist(project, method):
    url = f"/projects/{project.pk}/checklist/a%00b/"
    response = getattr(_client(project.owner), method)(url, {"status": "met", "evidence_text": "x"})
    assert response.status_code == 404
    assert ">Not found</h1>" in response.content.decode()  # the site's own 404 page
    assert not Answer.objects.filter(project=project).exists()


@pytest.mark.parametrize("suffix", ["", "move/", "remove/"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_item_code_with_a_nul_is_not_found_in_the_catalogue(catalogue, admin_user, suffix, method):
    before = list(GuidelineItem.objects.order_by("pk").values_list("pk", "code", "order"))
    url = f"/catalogue/{catalogue.pk}/items/PF-1%00/{suffix}"
    response = getattr(_client(admin_user), method)(url, {"direction": "up", "text": "x"})
    assert response.status_code == 404
    assert list(GuidelineItem.objects.order_by("pk").values_list("pk", "code", "order")) == before


def test_the_same_address_without_the_nul_still_answers(project):
    code = GuidelineItem.objects.filter(version=project.guideline_version).order_by("pk").first().code
    response = _client(project.owner).get(f"/projects/{project.pk}/checklist/{code}/")
    assert response.status_code == 200
