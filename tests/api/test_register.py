"""The public register through the API: anyone reads it, with or without a token; only approved,
listed projects, as their approved round froze them; the same 404 for every id that is not on
it; signers' names only when the board shows them; a fixed number of queries per page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api.models import ApiToken
from public.models import Listing, Objection, ObjectionKind
from reviews.enums import Meaning, Modality, ProjectStatus
from reviews.models import Project
from reviews.services.decisions import project_amend, project_suspend
from reviews.services.projects import project_update
from tests.api.client import api_client, client_with, make_token
from tests.factories import ProjectFactory
from tests.public.register_world import approved, decide, set_listing, submit

pytestmark = pytest.mark.django_db

LIST = "/api/v1/register/"


def _entry(pk: int) -> str:
    return reverse("api:register-entry", kwargs={"id": pk})


@pytest.fixture
def cast(catalogue, researcher, admin_user):  # type: ignore[no-untyped-def]
    """A listed draft, a listed rejected, an unlisted approved and a listed approved project."""
    draft = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Listed draft", public_listing=True)
    rejected = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Listed rejected")
    decide(submit(rejected, listed=True), Meaning.REJECT, admin=admin_user)
    unlisted = approved(researcher, catalogue, title="Unlisted approved", listed=False, admin=admin_user)
    listed = approved(researcher, catalogue, title="Listed approved", listed=True, admin=admin_user)
    return {"draft": draft, "rejected": rejected, "unlisted": unlisted, "listed": listed}


def test_anyone_reads_the_register_and_only_approved_listed_projects_are_on_it(cast):
    set_listing(Listing.OPT_IN)
    response = api_client(None).get(LIST)
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 1 and [entry["title"] for entry in data["results"]] == ["Listed approved"]
    entry = data["results"][0]
    assert entry["id"] == cast["listed"].pk and entry["standing"] == "approved"
    assert entry["digest"] == cast["listed"].rounds.get(number=1).digest
    body = response.content.decode()
    for key in ("draft", "rejected", "unlisted"):
        assert cast[key].title not in body

    set_listing(Listing.MANDATORY)  # every approved project, whatever its researcher chose
    titles = [entry["title"] for entry in api_client(None).get(LIST).json()["results"]]
    assert titles == ["Listed approved", "Unlisted approved"]  # newest approval first


def test_a_token_still_works_on_the_public_register_and_counts_as_used(cast, researcher):
    set_listing(Listing.OPT_IN)
    token, raw = make_token(researcher)
    assert client_with(raw).get(LIST).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    unknown = client_with("msr_" + "x" * 40).get(LIST)
    assert unknown.status_code == 401  # a token that is sent must be a real one


def test_every_id_not_on_the_register_answers_the_same_404(cast):
    set_listing(Listing.OPT_IN)
    client = api_client(None)
    highest = Project.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    bodies = {}
    # Every project of the cast, ids past the last one, and absurd ones; not a range from 1,
    # which on PostgreSQL grows with the tests before (sequences are not reset) past the throttle.
    for pk in [*Project.objects.values_list("pk", flat=True), highest + 1, highest + 3, 0, 99999999999999999999]:
        response = client.get(f"{LIST}{pk}/")
        if pk == cast["listed"].pk:
            assert response.status_code == 200
            continue
        assert response.status_code == 404, pk
        bodies[pk] = response.content
    assert len(set(bodies.values())) == 1, "some ids that are not on the register answer differently"
    assert b"Listed rejected" not in next(iter(bodies.values()))


@pytest.fixture
def amended(catalogue, researcher, admin_user) -> Project:
    """An approved, listed project, amended afterwards with private edits."""
    project = approved(researcher, catalogue, title="Synthetic knee MRI", admin=admin_user, modalities=["MR"])
    project_amend(actor=researcher, project=project, reason="SECRET-AMEND-REASON")
    project_update(
        actor=researcher,
        project=project,
        data={
            "title": "AMENDED-SECRET-TITLE", "summary": "AMENDED-SECRET-SUMMARY", "synthesis_task": "text_to_image",
            "modalities": ["CT"], "generator_family": "gan", "intended_use": "AMENDED-SECRET-USE",
            "prohibited_uses": "AMENDED-SECRET-PROHIBITED", "data_sources": "AMENDED-SECRET-SOURCES",
        },
    )  # fmt: skip
    project.refresh_from_db()
    assert project.status == ProjectStatus.AMENDMENT
    return project


def test_an_entry_is_its_approved_rounds_frozen_content_not_the_live_project(amended: Project):
    set_listing(Listing.OPT_IN)
    response = api_client(None).get(_entry(amended.pk))
    assert response.status_code == 200
    data = response.json()
    assert data["title"] == "Synthetic knee MRI" and data["modalities"] == [dict(Modality.choices)["MR"]]
    assert data["standing"] == "amendment" and data["round"] == 1
    assert "AMENDED-SECRET" not in response.content.decode() and "SECRET-AMEND-REASON" not in response.content.decode()
    assert {audit["audit"] for audit in data["audits"]} >= {"privacy", "memorization"}
    assert all(audit["waived"] for audit in data["audits"] if audit["status"] == "not_computable")


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"q": "knee"}, True),
        ({"q": "AMENDED-SECRET-TITLE"}, False),  # typed only in the private amendment
        ({"modality": "MR"}, True),
        ({"modality": "CT"}, False),  # the amendment's private modality
        ({"task": "text_to_image"}, False),  # the amendment's private task
    ],
    ids=["public-word", "amended-title", "frozen-modality", "amended-modality", "amended-task"],
)
def test_filters_read_only_the_approved_rounds_public_fields(amended: Project, params, found):
    set_listing(Listing.OPT_IN)
    response = api_client(None).get(LIST, params)
    assert response.status_code == 200
    assert (amended.pk in [entry["id"] for entry in response.json()["results"]]) == found


def test_a_bad_filter_is_a_400_naming_the_field(amended: Project):
    response = api_client(None).get(LIST, {"modality": "<script>", "task": "nope"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"modality", "task"} and "Select a valid choice" in errors["task"][0]


def test_signer_names_show_only_when_the_board_says_so(cast):
    url = _entry(cast["listed"].pk)
    set_listing(Listing.OPT_IN, show_signer_names=False)
    response = api_client(None).get(url)
    signatures = response.json()["signatures"]
    assert [s["name"] for s in signatures] == [None, None]
    assert {s["expertise"] for s in signatures} == {"Technical", "Clinical"}
    assert "Tess Technical" not in response.content.decode() and "Carl Clinical" not in response.content.decode()
    set_listing(Listing.OPT_IN, show_signer_names=True)
    assert {s["name"] for s in api_client(None).get(url).json()["signatures"]} == {"Tess Technical", "Carl Clinical"}


def test_a_suspension_shows_with_its_reason(cast, admin_user):
    set_listing(Listing.OPT_IN)
    project_suspend(actor=admin_user, project=cast["listed"], reason="Consent unclear.")
    data = api_client(None).get(_entry(cast["listed"].pk)).json()
    assert data["standing"] == "suspended" and data["suspension"]["reason"] == "Consent unclear."


def _queries(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_register_runs_the_same_queries_for_one_entry_and_for_many(catalogue, researcher, admin_user):
    set_listing(Listing.OPT_IN)
    first = approved(researcher, catalogue, title="Project 0", admin=admin_user)
    project_suspend(actor=admin_user, project=first, reason="Labels missing.")
    client = api_client(None)
    one, entry_one = _queries(client, LIST), _queries(client, _entry(first.pk))
    projects = [approved(researcher, catalogue, title=f"Project {n}", admin=admin_user) for n in range(1, 4)]
    project_suspend(actor=admin_user, project=projects[0], reason="Consent unclear.")
    project_amend(actor=researcher, project=projects[1], reason="A new site.")
    assert _queries(client, LIST) == one
    # The setting, the count, the page of rounds and the page's suspensions.
    assert one == 4
    assert _queries(client, _entry(projects[0].pk)) == entry_one  # another suspended entry
    assert len(client.get(LIST).json()["results"]) == 4


def test_objections_show_as_on_the_page_without_their_senders(catalogue, researcher, admin_user):
    set_listing(Listing.OPT_IN)
    project = approved(researcher, catalogue, title="Questioned project", admin=admin_user)
    Objection.objects.create(project=project, kind=ObjectionKind.OBJECTION, text="SECRET-OBJECTION-TEXT",
                             name="SECRET-SENDER", email="sender@example.org", token_sha256="a" * 64)  # fmt: skip
    Objection.objects.create(project=project, kind=ObjectionKind.QUESTION, text="Are the images labelled?",
                             publish_text=True, token_sha256="b" * 64)  # fmt: skip
    response = api_client(None).get(_entry(project.pk))
    body = response.content.decode()
    assert "SECRET-OBJECTION-TEXT" not in body and "SECRET-SENDER" not in body and "sender@example.org" not in body
    assert [(o["kind"], o["status"], o["text"]) for o in response.json()["objections"]] == [
        ("question", "received", "Are the images labelled?"),
        ("objection", "received", None),
    ]
