"""Bodies a careless or hostile client sends the API: each is refused with a 400 that says what is
wrong, never a 500, and changes nothing (found by tests/test_hostile_probe.py)."""

from __future__ import annotations

import json

import pytest

from reviews.models import Answer, Project
from tests.api.client import api_client
from tests.factories import project_fields


def _send(client, method, url, raw: bytes):
    return client.generic(method, url, data=raw, content_type="application/json")


DEEP = b"[" * 5000 + b"]" * 5000  # 10 kB


@pytest.mark.parametrize("method, path", [("POST", "/api/v1/projects/"), ("PATCH", "/api/v1/projects/{id}/")])
def test_a_body_nested_thousands_deep_is_a_parse_error(project, method, path):
    client = api_client(project.owner)
    response = _send(client, method, path.format(id=project.pk), DEEP)
    assert response.status_code == 400, response.content[:200]
    assert response.json()["detail"] == "JSON parse error - the body is nested too deeply."
    assert Project.objects.count() == 1
    project.refresh_from_db()
    assert project.title != "[]"


def test_a_deep_body_to_an_answer_changes_nothing(project):
    client = api_client(project.owner)
    code = project.guideline_version.items.order_by("pk").first().code
    response = _send(client, "PUT", f"/api/v1/projects/{project.pk}/answers/{code}/", DEEP)
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    assert not Answer.objects.filter(project=project).exists()


@pytest.mark.parametrize("field", ["synthesis_task", "generator_family"])
def test_a_lone_surrogate_in_a_choice_is_named_in_the_answer(researcher, field):
    """DRF's message quotes the refused choice; with a lone surrogate in it the answer could not
    be encoded and was a 500. It is written as an escape instead."""
    client = api_client(researcher)
    raw = json.dumps(project_fields(**{field: "\ud800"})).encode()  # "\\ud800": valid JSON, not valid UTF-8 text
    response = _send(client, "POST", "/api/v1/projects/", raw)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == f'{field}: "\\ud800" is not a valid choice.'
    assert body["errors"][field] == ['"\\ud800" is not a valid choice.']
    assert not Project.objects.exists()


def test_a_lone_surrogate_in_an_answers_status_is_refused_and_keeps_the_answer(project):
    client = api_client(project.owner)
    code = project.guideline_version.items.order_by("pk").first().code
    url = f"/api/v1/projects/{project.pk}/answers/{code}/"
    saved = client.put(url, {"status": "met", "justification": "", "evidence_text": "Kept."}, format="json")
    assert saved.status_code == 200, saved.content[:300]
    response = _send(client, "PUT", url, json.dumps({"status": "\udfff", "evidence_text": "Lost?"}).encode())
    assert response.status_code == 400
    assert response.json()["errors"]["status"] == ['"\\udfff" is not a valid choice.']
    answer = Answer.objects.get(project=project, item__code=code)
    assert (answer.status, answer.evidence_text) == ("met", "Kept.")
