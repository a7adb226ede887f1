"""The project list's rows, built directly (api.serializers.projects.project_rows_data), are
byte for byte what ProjectRowSerializer, the schema's source, gives for the same rows."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api.selectors.projects import project_rows
from api.serializers.projects import ProjectRowSerializer, project_rows_data
from reviews.enums import Modality, SynthesisTask
from reviews.models import Project
from tests.api.client import api_client
from tests.factories import ProjectFactory, ResearcherFactory
from tests.reviews.test_access import add_audit_evidence
from tests.workflow import submitted

LIST = "/api/v1/projects/"
HOSTILE = "<script>alert('x')</script> \"quoted\" \\ back\u2028slash ünïcödé 🧠 &amp;"


def _portfolio() -> list[Project]:
    draft = ProjectFactory()
    hostile = ProjectFactory(
        owner=ResearcherFactory(full_name=HOSTILE),
        title=HOSTILE,
        summary="",
        synthesis_task=SynthesisTask.AUGMENTATION,
        modalities=[Modality.MR, Modality.CT, Modality.XRAY],
    )
    no_name = ProjectFactory(owner=ResearcherFactory(full_name=""), modalities=[])
    sent = ProjectFactory()
    submitted(sent)
    audited = ProjectFactory()
    add_audit_evidence(audited, "row")
    submitted(audited)
    return [draft, hostile, no_name, sent, audited]


def _serializer_json(rows: list[Project], request: Request) -> bytes:
    return JSONRenderer().render(ProjectRowSerializer(rows, many=True, context={"request": request}).data)


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Chatham"])
def test_each_row_is_the_serializers_output(catalogue, admin_user, zone: str) -> None:
    projects = _portfolio()
    request = Request(APIRequestFactory().get(LIST))
    with timezone.override(zone):
        rows = project_rows(user=admin_user, ids=[project.pk for project in projects])
        expected = ProjectRowSerializer(rows, many=True, context={"request": request}).data
        fast = project_rows_data(rows, request)
        for mine, theirs in zip(fast, expected, strict=True):
            assert list(mine) == list(theirs)
            for key in theirs:
                assert JSONRenderer().render(mine[key]) == JSONRenderer().render(theirs[key]), key
        assert JSONRenderer().render(fast) == _serializer_json(rows, request)
    assert [row["first_submitted_at"] is None for row in fast] == [True, True, True, False, False]
    assert fast[1]["title"] == HOSTILE and fast[1]["owner_name"] == HOSTILE


@pytest.mark.django_db
def test_the_list_answers_the_serializers_rows(catalogue, admin_user) -> None:
    projects = _portfolio()
    response = api_client(admin_user).get(LIST, {"page_size": 3})
    assert response.status_code == 200, response.content
    ids = [row["id"] for row in response.json()["results"]]
    assert len(ids) == 3 and set(ids) <= {project.pk for project in projects}
    rows = project_rows(user=admin_user, ids=ids)
    expected = _serializer_json(rows, Request(APIRequestFactory().get(LIST)))
    assert JSONRenderer().render(response.json()["results"]) == expected


def _progress(client, project: Project) -> dict:  # type: ignore[no-untyped-def]
    rows = client.get(LIST).json()["results"]
    return next(row["progress"] for row in rows if row["id"] == project.pk)


@pytest.mark.django_db
def test_the_lists_item_totals_are_the_projects_and_a_draft_versions_edit_shows_at_once(catalogue, admin_user):
    """The list counts a version's items once per process when the version is published (its
    items can no longer change) and afresh otherwise: the totals are the project's own, as the
    project's page in the API counts them, before and after a draft version gains an item."""
    from reviews.models import GuidelineItem, GuidelineVersion, Stage

    on_published = ProjectFactory()
    draft_version = GuidelineVersion.objects.create(guideline_set=catalogue.guideline_set, number=50)
    stage = Stage.objects.create(version=draft_version, code="DR", name="Draft stage", order=1)
    GuidelineItem.objects.create(version=draft_version, stage=stage, code="DR-1", requirement="One", order=1)
    on_draft = ProjectFactory(guideline_version=draft_version)
    client = api_client(admin_user)

    def detail(project: Project) -> dict:  # type: ignore[type-arg]
        return client.get(f"{LIST}{project.pk}/").json()["progress"]

    required = GuidelineItem.objects.filter(version=catalogue, required=True).count()
    assert _progress(client, on_published)["total"] == GuidelineItem.objects.filter(version=catalogue).count()
    assert _progress(client, on_published)["required"] == required
    assert _progress(client, on_published) == detail(on_published)
    assert _progress(client, on_draft)["total"] == 1
    GuidelineItem.objects.create(version=draft_version, stage=stage, code="DR-2", requirement="Two", order=2)
    assert _progress(client, on_draft)["total"] == 2
    assert _progress(client, on_draft) == detail(on_draft)
