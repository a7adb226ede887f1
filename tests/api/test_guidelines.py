"""Guideline versions through the API: what the catalogue pages list to the same user (drafts
for administrators only; the editors' notes and internals only to them), each version's stages,
items and review policy, in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviews.models import GuidelineItem, GuidelineVersion
from reviews.selectors.catalogue import review_policy_of
from reviews.services.catalogue import guideline_version_new_draft
from tests.api.client import api_client

pytestmark = pytest.mark.django_db

LIST = "/api/v1/guidelines/"
INTERNAL = "the paper's full text was not available"  # in the catalogue's editors' notes


def _detail(version: GuidelineVersion) -> str:
    return reverse("api:guideline", kwargs={"id": version.pk})


@pytest.mark.parametrize("who", ["researcher", "reviewer"])
def test_users_read_published_versions_only_without_the_editors_internals(request, catalogue, admin_user, who):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    client = api_client(request.getfixturevalue(who))
    listed = client.get(LIST).json()["results"]
    assert [v["id"] for v in listed] == [catalogue.pk]
    assert listed[0]["status"] == "published" and listed[0]["notes"] is None and listed[0]["parent"] is None
    response = client.get(_detail(draft))
    assert response.status_code == 404 and str(draft) not in response.content.decode()
    response = client.get(_detail(catalogue))
    assert response.status_code == 200
    assert INTERNAL in catalogue.notes and INTERNAL not in response.content.decode()
    items = [item for stage in response.json()["stages"] for item in stage["items"]]
    assert {item["automation"] for item in items} == {None}


def test_administrators_see_drafts_and_the_editors_notes(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    client = api_client(admin_user)
    listed = {v["id"]: v for v in client.get(LIST).json()["results"]}
    assert set(listed) == {catalogue.pk, draft.pk}
    assert listed[draft.pk]["status"] == "draft" and listed[draft.pk]["parent"] == catalogue.pk
    data = client.get(_detail(catalogue)).json()
    assert INTERNAL in data["notes"]
    assert all(item["automation"] for stage in data["stages"] for item in stage["items"])


def test_a_version_lists_its_stages_items_and_review_policy_in_catalogue_order(catalogue, researcher):
    data = api_client(researcher).get(_detail(catalogue)).json()
    items = list(GuidelineItem.objects.filter(version=catalogue).order_by("stage__order", "order"))
    answered = [item for stage in data["stages"] for item in stage["items"]]
    assert [item["code"] for item in answered] == [item.code for item in items]
    assert data["item_count"] == len(items) and data["stage_count"] == len(data["stages"])
    first = answered[0]
    assert first["code"] == "PF-1" and first["requirement"].startswith("State the concrete clinical")
    assert (first["required"], first["rationale"], first["evidence"]) == (
        items[0].required, items[0].rationale, items[0].evidence,
    )  # fmt: skip
    bound = {item.code: item.audit for item in items if item.audit}
    assert bound and {item["code"]: item["audit"] for item in answered if item["audit"]} == bound
    policy = review_policy_of(catalogue)
    assert data["review_policy"] == {
        "approvals_required": policy.approvals_required,
        "require_technical_and_non_technical": policy.require_technical_and_non_technical,
        "final_decision": policy.final_decision,
        "review_days": policy.review_days,
        "reminder_days": policy.reminder_days,
    }


def test_an_absurd_id_is_404_and_anonymous_callers_401(catalogue, researcher):
    assert api_client(researcher).get(f"{LIST}99999999999999999999/").status_code == 404
    assert api_client(None).get(LIST).status_code == 401
    assert api_client(None).get(_detail(catalogue)).status_code == 401


def _queries(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_and_detail_run_a_fixed_number_of_queries(catalogue, admin_user):
    client = api_client(admin_user)
    client.get(LIST)  # a token's first use writes once more
    one = _queries(client, LIST)
    published = _queries(client, _detail(catalogue))
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    assert _queries(client, LIST) == one
    assert len(client.get(LIST).json()["results"]) == 2
    assert _queries(client, _detail(draft)) == published
