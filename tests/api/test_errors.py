"""A URL under /api/v1/ that is no operation answers JSON, as every operation's refusals do."""

from __future__ import annotations

import pytest

from tests.api.client import api_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_an_unknown_url_is_a_json_404_pointing_to_the_operations(researcher, method):
    response = getattr(api_client(researcher), method)("/api/v1/nothing/here/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "No API operation at /api/v1/nothing/here/; the operations are listed at /api/v1/docs/."
    }


def test_a_missing_trailing_slash_is_named(researcher, project):
    response = api_client(researcher).post(f"/api/v1/projects/{project.pk}/submit", {}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"No API operation at /api/v1/projects/{project.pk}/submit: every path ends with a slash, "
        f"/api/v1/projects/{project.pk}/submit/."
    )


def test_an_unknown_url_reveals_nothing_to_an_anonymous_caller():
    response = api_client(None).get("/api/v1/projects/1/secret-things/")
    assert response.status_code == 404 and "detail" in response.json()
