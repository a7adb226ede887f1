"""Two API clients submitting the same project at once (a pipeline retried, two scripts): one
round is frozen, the other request is refused with a reason, never a 500 and never a second
round. Real PostgreSQL, each request on its own connection (tests.reviews.test_concurrency)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reviews.enums import AnswerStatus, ProjectStatus
from reviews.models import GuidelineItem, Project, Round
from reviews.services.projects import answer_save
from tests.api.client import client_with, make_token
from tests.factories import ProjectFactory, ResearcherFactory
from tests.reviews.test_concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _submitter(project_pk: int, raw: str) -> Callable[[], tuple[int, dict[str, object]]]:
    def call() -> tuple[int, dict[str, object]]:
        response = client_with(raw).post(f"/api/v1/projects/{project_pk}/submit/", {}, format="json")
        return response.status_code, response.json()

    return call


def test_two_submissions_at_once_freeze_one_round():
    researcher = ResearcherFactory()
    project = ProjectFactory(owner=researcher)
    for item in GuidelineItem.objects.filter(version=project.guideline_version_id, required=True):
        answer_save(
            actor=researcher, project=project, item=item, status=AnswerStatus.MET, justification="", evidence_text=""
        )
    raws = [make_token(researcher)[1] for _ in range(2)]
    results = run_together(*(_submitter(project.pk, raw) for raw in raws))
    assert all(result.ok for result in results), [result.error for result in results]
    statuses = sorted(result.value[0] for result in results)
    # The slower one either saw the submitted project (403, read-only) or lost the race for
    # its row lock (409, the service's conflict): both say why.
    assert statuses[0] == 201 and statuses[1] in (403, 409), [result.value for result in results]
    refused = next(result.value[1] for result in results if result.value[0] != 201)
    assert refused["detail"] in (
        "This project is submitted: it is read-only until reviewers request changes.",
        "This project is submitted and can no longer be changed.",
    )
    assert Round.objects.filter(project=project).count() == 1
    assert Project.objects.get(pk=project.pk).status == ProjectStatus.SUBMITTED
