"""Audit runs through the API: history, a request, one run, one audit's JSON."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from audits.enums import RunStatus, SetRole, SetStatus
from audits.models import AuditRun, ImageSet
from tests.api.client import api_client
from tests.factories import ProjectFactory
from tests.reviews.test_access import add_audit_evidence

pytestmark = pytest.mark.django_db


def _runs(project) -> str:
    return f"/api/v1/projects/{project.pk}/audit-runs/"


def test_a_request_queues_one_run_and_a_second_finds_it(project, researcher):
    add_audit_evidence(project, "api")  # a current synthetic set, and a finished run on other inputs
    client = api_client(researcher)
    first = client.post(_runs(project), {"reason": "nightly build 42"}, format="json")
    assert first.status_code == 201, first.content
    run = first.json()
    assert run["status"] == RunStatus.QUEUED and run["reason"] == "nightly build 42" and run["progress"] == 0
    assert run["sets"] == list(ImageSet.objects.filter(project=project).values_list("pk", flat=True))
    second = client.post(_runs(project), {}, format="json")
    assert second.status_code == 200 and second.json()["id"] == run["id"]
    listed = client.get(_runs(project)).json()
    assert [entry["number"] for entry in listed["results"]] == [2, 1]  # newest first
    assert AuditRun.objects.filter(project=project, status=RunStatus.QUEUED).count() == 1


def test_a_run_needs_a_synthetic_set(project, researcher):
    client = api_client(researcher)
    response = client.post(_runs(project), {}, format="json")
    assert response.status_code == 409 and "synthetic image set first" in response.json()["detail"]
    ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=researcher, is_current=False, status=SetStatus.INGESTING
    )
    response = client.post(_runs(project), {}, format="json")
    assert response.status_code == 409 and "still being read" in response.json()["detail"]
    assert not AuditRun.objects.exists()


def test_a_run_shows_each_audits_verdict_and_its_result_json(project, researcher):
    image_set, _file, run = add_audit_evidence(project, "api")
    client = api_client(researcher)
    detail = client.get(f"{_runs(project)}{run.pk}/").json()
    assert detail["status"] == "succeeded" and detail["progress"] == 100 and detail["sets"] == [image_set.pk]
    privacy = next(entry for entry in detail["audits"] if entry["audit"] == "privacy")
    assert privacy["status"] == "warn" and privacy["summary"].startswith("SECRET-SUMMARY-api")
    result = client.get(f"{_runs(project)}{run.pk}/results/privacy/")
    assert result.status_code == 200 and result.json() == run.results["privacy"]
    assert client.get(f"{_runs(project)}{run.pk}/results/no-such-audit/").status_code == 404


def test_a_queued_run_has_no_result_yet(project, researcher):
    add_audit_evidence(project, "api")
    client = api_client(researcher)
    run_id = client.post(_runs(project), {}, format="json").json()["id"]
    response = client.get(f"{_runs(project)}{run_id}/results/privacy/")
    assert response.status_code == 409 and "not finished" in response.json()["detail"]


def test_another_projects_run_is_not_found(project, researcher, other_researcher):
    _set, _file, run = add_audit_evidence(project, "api")
    theirs = ProjectFactory(owner=other_researcher)
    other = api_client(other_researcher)
    for url in (f"{_runs(theirs)}{run.pk}/", f"{_runs(theirs)}{run.pk}/results/privacy/", f"{_runs(project)}{run.pk}/"):
        response = other.get(url)
        assert response.status_code == 404 and "SECRET-SUMMARY" not in response.content.decode()
    assert api_client(researcher).get(f"{_runs(theirs)}{run.pk}/").status_code == 404


@pytest.mark.parametrize("count", [1, 12])
def test_the_lists_run_a_fixed_number_of_queries(project, researcher, django_assert_num_queries, count):
    """Token, token use (the first request's only: once a minute), project (with owner and
    guideline), the rows' count, the page."""
    for index in range(count):
        add_audit_evidence(project, f"q{index}")
        ImageSet.objects.filter(project=project, is_current=True).update(is_current=False)
    client = api_client(researcher)
    with django_assert_num_queries(5):
        runs = client.get(_runs(project)).json()
    with django_assert_num_queries(4):
        sets = client.get(f"/api/v1/projects/{project.pk}/image-sets/").json()
    assert runs["count"] == len(runs["results"]) == count
    assert sets["count"] == len(sets["results"]) == count
    assert all(len(run["audits"]) == 6 for run in runs["results"])


def test_page_and_api_run_requests_share_one_hourly_allowance(project, researcher):
    """The page (scope "audit-run-user") and the API count on one counter, not one each."""
    limit = settings.THROTTLE_RATES["audit-run-user"][0]
    page = Client()
    page.force_login(researcher)
    page_url = reverse("audit-run-start", kwargs={"pk": project.pk})
    for _ in range(limit - 1):
        assert page.post(page_url).status_code == 302  # "upload a synthetic set first"
    client = api_client(researcher)
    assert client.post(_runs(project), {}, format="json").status_code == 409  # the last one allowed
    refused = client.post(_runs(project), {}, format="json")
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 3600
    assert page.post(page_url).status_code == 429  # the API's request used up the page's allowance too
    assert not AuditRun.objects.exists()
    assert client.get(_runs(project)).status_code == 200  # reading the history is not a request
