"""Projects through the API: create, edit, answer, attach evidence, submit; the list and its
filters; every refusal names the field or the reason, and nothing of another user's project
shows in any list or detail."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from api.enums import TokenScope
from public.models import Listing, RegisterSettings
from reviews.enums import AnswerStatus, Modality, ProjectStatus, SynthesisTask
from reviews.forms import ProjectForm
from reviews.models import ActivityEntry, EvidenceFile, GuidelineItem, Project, Round
from reviews.services.assignments import assignment_create, assignment_respond
from reviews.services.projects import answer_save
from reviews.validators import LONG_TEXT
from tests.api.client import api_client
from tests.factories import ProjectFactory, ResearcherFactory, ReviewerFactory

LIST = "/api/v1/projects/"


def _detail(project: Project | int, tail: str = "") -> str:
    pk = project if isinstance(project, int) else project.pk
    return f"/api/v1/projects/{pk}/{tail}"


def _new_project(**changes: Any) -> dict[str, Any]:
    return {
        "title": "Synthetic knee MRI for meniscus segmentation",
        "summary": "A latent diffusion model generates knee MRI slices.",
        "synthesis_task": "augmentation",
        "modalities": ["MR"],
        "generator_family": "diffusion",
        "intended_use": "Training data for a segmentation network.",
        "prohibited_uses": "Diagnosis.",
        "data_sources": "fastMRI knee, accessed 2025-02-01.",
        **changes,
    }


def _required(project: Project) -> list[GuidelineItem]:
    return list(
        GuidelineItem.objects.filter(version=project.guideline_version_id, required=True).order_by(
            "stage__order", "order"
        )
    )


def _page(user: Any, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


# ---- the whole path, as a lab's script would take it -----------------------------------------


def test_a_researcher_creates_edits_answers_attaches_evidence_and_submits(
    catalogue, researcher, django_capture_on_commit_callbacks
):
    client = api_client(researcher)

    created = client.post(LIST, _new_project(), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    project = Project.objects.get(pk=body["id"])
    assert project.owner == researcher and project.status == ProjectStatus.DRAFT
    assert created["Location"] == body["url"] == f"http://testserver{_detail(project)}"
    assert body["status"] == "draft" and body["status_display"] == "Draft"
    assert body["guideline_version"]["id"] == catalogue.pk
    assert body["owner_name"] == "Rosa Researcher"
    required = _required(project)
    assert body["progress"] == {
        "answered": 0,
        "total": GuidelineItem.objects.filter(version=catalogue).count(),
        "required_answered": 0,
        "required": len(required),
    }
    assert body["links"]["checklist"].endswith(_detail(project, "checklist/"))
    assert body["links"]["image_sets"].endswith(_detail(project, "image-sets/"))

    edited = client.patch(_detail(project), {"title": "Synthetic knee MRI, revised"}, format="json")
    assert edited.status_code == 200, edited.content
    assert edited.json()["title"] == "Synthetic knee MRI, revised"
    assert edited.json()["summary"] == _new_project()["summary"]  # what was not sent stays
    assert "Synthetic knee MRI, revised" in _page(researcher, project.get_absolute_url())

    for item in required:
        saved = client.put(_detail(project, f"answers/{item.code}/"), {"status": "met"}, format="json")
        assert saved.status_code == 200, saved.content
        assert saved.json()["answer"]["status"] == "met"
    first = required[0].code
    text = client.put(
        _detail(project, f"answers/{first}/"),
        {"status": "partly_met", "evidence_text": "See the attached protocol."},
        format="json",
    )
    assert text.json()["answer"]["evidence_text"] == "See the attached protocol."

    upload = SimpleUploadedFile("protocol.txt", b"Imaging protocol, version 3.\n", content_type="text/plain")
    attached = client.post(_detail(project, f"answers/{first}/evidence/"), {"file": upload}, format="multipart")
    assert attached.status_code == 201, attached.content
    evidence = attached.json()
    assert evidence["name"] == "protocol.txt" and evidence["item"] == first and evidence["size"] == 29
    assert attached["Location"] == evidence["url"]
    # Attaching a file leaves what the answer says as it was.
    answer = client.get(_detail(project, f"answers/{first}/")).json()["answer"]
    assert answer["status"] == "partly_met" and answer["evidence_text"] == "See the attached protocol."
    assert [f["id"] for f in answer["files"]] == [evidence["id"]]

    content = client.get(evidence["content_url"])
    assert content.status_code == 200
    assert b"".join(content.streaming_content) == b"Imaging protocol, version 3.\n"
    assert content["Content-Disposition"] == 'attachment; filename="protocol.txt"'
    assert content["Content-Type"] == "text/plain"
    assert content["Content-Security-Policy"] == "default-src 'none'; sandbox"
    # The answer page lists the file too, with the page's own download link.
    assert "protocol.txt" in _page(researcher, reverse("answer-edit", kwargs={"pk": project.pk, "code": first}))

    spare = SimpleUploadedFile("spare.csv", b"a,b\n1,2\n", content_type="text/csv")
    spare_id = client.post(_detail(project, f"answers/{first}/evidence/"), {"file": spare}, format="multipart").json()[
        "id"
    ]
    stored = EvidenceFile.objects.get(pk=spare_id).file
    with django_capture_on_commit_callbacks(execute=True):
        removed = client.delete(_detail(project, f"evidence/{spare_id}/"))
    assert removed.status_code == 204
    assert not EvidenceFile.objects.filter(pk=spare_id).exists()
    assert not stored.storage.exists(stored.name)
    assert client.get(_detail(project, f"evidence/{spare_id}/")).status_code == 404

    checklist = client.get(_detail(project, "checklist/")).json()
    rows = {row["code"]: row for stage in checklist for row in stage["items"]}
    assert all(rows[item.code]["answer"]["status"] for item in required)
    assert [f["name"] for f in rows[first]["answer"]["files"]] == ["protocol.txt"]
    assert all(row["problem"] == "" for row in rows.values())

    submitted = client.post(_detail(project, "submit/"), {}, format="json")
    assert submitted.status_code == 201, submitted.content
    round_ = Round.objects.get(project=project)
    assert submitted.json()["round"] == 1 and submitted.json()["digest"] == round_.digest
    assert submitted.json()["status"] == "submitted"
    project.refresh_from_db()
    assert project.status == ProjectStatus.SUBMITTED
    assert round_.snapshot["answers"][0]["files"][0]["name"] == "protocol.txt"
    assert "Synthetic knee MRI, revised" in _page(
        researcher, reverse("round-detail", kwargs={"pk": project.pk, "number": 1})
    )

    # Submitted, it is read-only: the pages' reason, and nothing changes.
    refused = client.patch(_detail(project), {"title": "Too late"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This project is submitted: it is read-only until reviewers request changes."
    assert client.put(_detail(project, f"answers/{first}/"), {"status": "met"}, format="json").status_code == 403
    assert client.delete(_detail(project, f"evidence/{evidence['id']}/")).status_code == 403
    project.refresh_from_db()
    assert project.title == "Synthetic knee MRI, revised"
    assert EvidenceFile.objects.filter(pk=evidence["id"]).exists()
    assert client.get(_detail(project)).json()["editable"] is False


# ---- submission -----------------------------------------------------------------------------


def test_submission_of_an_incomplete_checklist_is_refused_with_the_missing_items(project, researcher):
    required = _required(project)
    answer_save(
        actor=researcher, project=project, item=required[0], status=AnswerStatus.MET, justification="", evidence_text=""
    )
    response = api_client(researcher).post(_detail(project, "submit/"), {}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["detail"].startswith(f"Not submitted: {len(required) - 1} checklist item(s)")
    assert [p["code"] for p in body["problems"]] == [item.code for item in required[1:]]
    assert {p["problem"] for p in body["problems"]} == {"not answered"}
    assert body["problems"][0]["url"].endswith(_detail(project, f"answers/{required[1].code}/"))
    project.refresh_from_db()
    assert project.status == ProjectStatus.DRAFT and not project.rounds.exists()


def _answer_all(project: Project) -> None:
    for item in _required(project):
        answer_save(
            actor=project.owner, project=project, item=item, status=AnswerStatus.MET, justification="", evidence_text=""
        )


@pytest.mark.parametrize(
    ("listing", "sent", "listed"),
    [
        (Listing.OPT_IN, None, False),
        (Listing.OPT_IN, True, True),
        (Listing.DEFAULT, None, True),
        (Listing.DEFAULT, False, False),
        (Listing.MANDATORY, None, False),  # listed by the setting, not by choice, as on the page
        (Listing.MANDATORY, True, False),
    ],
)
def test_the_listing_choice_follows_the_register_setting(project, researcher, listing, sent, listed):
    RegisterSettings.objects.update_or_create(pk=1, defaults={"listing": listing})
    _answer_all(project)
    body = {} if sent is None else {"public_listing": sent}
    response = api_client(researcher).post(_detail(project, "submit/"), body, format="json")
    assert response.status_code == 201, response.content
    project.refresh_from_db()
    assert project.public_listing is listed and response.json()["public_listing"] is listed


def test_opting_out_of_a_mandatory_listing_is_refused_and_nothing_is_submitted(project, researcher):
    RegisterSettings.objects.update_or_create(pk=1, defaults={"listing": Listing.MANDATORY})
    _answer_all(project)
    response = api_client(researcher).post(_detail(project, "submit/"), {"public_listing": False}, format="json")
    assert response.status_code == 400
    assert "no opting out" in response.json()["errors"]["public_listing"][0]
    project.refresh_from_db()
    assert project.status == ProjectStatus.DRAFT


def test_a_listing_choice_that_is_not_a_boolean_is_refused(project, researcher):
    _answer_all(project)
    response = api_client(researcher).post(_detail(project, "submit/"), {"public_listing": "perhaps"}, format="json")
    assert response.status_code == 400 and "public_listing" in response.json()["errors"]
    project.refresh_from_db()
    assert project.status == ProjectStatus.DRAFT


# ---- creating and editing: the page form's rules ----------------------------------------------


def test_a_project_missing_its_details_is_refused_naming_each_field(catalogue, researcher):
    response = api_client(researcher).post(LIST, {"title": "Only a title"}, format="json")
    assert response.status_code == 400
    missing = set(ProjectForm.base_fields) - {"title"}
    assert set(response.json()["errors"]) == missing
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"summary": "x" * (LONG_TEXT + 1)}, "summary"),
        ({"synthesis_task": "mind_reading"}, "synthesis_task"),
        ({"modalities": "MR"}, "modalities"),
        ({"modalities": []}, "modalities"),
        ({"modalities": ["MR", "X-RAY-VISION"]}, "modalities"),
        ({"modalities": [{"code": "MR"}]}, "modalities"),
        ({"generator_family": None}, "generator_family"),
        ({"intended_use": ["a", "list"]}, "intended_use"),
        ({"data_sources": "nul \x00 byte"}, "data_sources"),
    ],
)
def test_hostile_project_details_are_refused_naming_the_field(catalogue, researcher, changes, field):
    client = api_client(researcher)
    response = client.post(LIST, _new_project(**changes), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Project.objects.exists()


def test_a_patch_is_checked_as_the_whole_project_and_changes_nothing_when_refused(project, researcher):
    client = api_client(researcher)
    response = client.patch(_detail(project), {"title": "", "summary": "A new summary."}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "title: This field is required.",
        "errors": {"title": ["This field is required."]},
    }
    project.refresh_from_db()
    assert project.summary != "A new summary."
    changed = client.patch(_detail(project), {"modalities": ["CT", "MR"], "synthesis_task": "super_resolution"})
    assert changed.status_code == 200
    project.refresh_from_db()
    assert project.modalities == ["CT", "MR"] and project.synthesis_task == SynthesisTask.SUPER_RESOLUTION
    assert changed.json()["modalities_display"] == ["CT", "MRI"]
    entry = ActivityEntry.objects.filter(project=project, object_type="reviews.project").order_by("-pk").first()
    assert entry is not None and entry.new["synthesis_task"] == "super_resolution"


def test_a_body_that_is_not_json_is_refused(catalogue, researcher):
    client = api_client(researcher)
    response = client.post(LIST, b"{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    assert "JSON parse error" in response.json()["errors"]["non_field_errors"][0]
    listed = client.post(LIST, [1, 2], format="json")
    assert listed.status_code == 400
    assert not Project.objects.exists()


def test_reviewers_and_administrators_do_not_create_projects(catalogue, reviewer, admin_user):
    for user in (reviewer, admin_user):
        response = api_client(user).post(LIST, _new_project(), format="json")
        assert response.status_code == 403
        assert response.json()["detail"].startswith("Projects are created by researchers whose account is confirmed")
    assert not Project.objects.exists()


def test_a_read_only_token_creates_nothing(catalogue, researcher):
    response = api_client(researcher, scope=TokenScope.READ).post(LIST, _new_project(), format="json")
    assert response.status_code == 403 and "read and write" in response.json()["detail"]
    assert not Project.objects.exists()


# ---- what others see ------------------------------------------------------------------------


def test_another_researchers_project_is_not_found_and_not_changed(project, other_researcher):
    client = api_client(other_researcher)
    missing = client.get(_detail(10**6)).json()
    for response in (
        client.get(_detail(project)),
        client.patch(_detail(project), {"title": "Taken over"}, format="json"),
        client.get(_detail(project, "checklist/")),
        client.post(_detail(project, "submit/"), {}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json() == missing == {"detail": "No such project."}
    project.refresh_from_db()
    assert project.title == "Secret brain MRI project"


@pytest.mark.parametrize("bad", ["99999999999999999999", "-1", "0"])
def test_an_out_of_range_project_id_is_not_found(catalogue, researcher, bad):
    response = api_client(researcher).get(f"/api/v1/projects/{bad}/")
    assert response.status_code == 404


def test_the_list_holds_only_the_projects_the_user_may_see(project, researcher, other_researcher, admin_user):
    reviewed = ProjectFactory(owner=researcher, title="Reviewed knee CT")
    _answer_all(reviewed)
    from reviews.services.projects import project_submit

    project_submit(actor=researcher, project=reviewed)
    invited = ReviewerFactory(full_name="Ivy Invited")
    assigned = ReviewerFactory(full_name="Axel Assigned")
    for user in (invited, assigned):
        assignment_create(actor=admin_user, project=reviewed, reviewer=user)
    assignment_respond(actor=assigned, project=reviewed, accept=True)
    ProjectFactory(owner=other_researcher, title="Otto's own project")

    def titles(user: Any) -> list[str]:
        response = api_client(user).get(LIST)
        assert response.status_code == 200
        return sorted(row["title"] for row in response.json()["results"])

    assert titles(researcher) == ["Reviewed knee CT", "Secret brain MRI project"]
    assert titles(other_researcher) == ["Otto's own project"]
    # An invited reviewer lists the project (its row leads to the invitation), as on the page.
    assert titles(invited) == titles(assigned) == ["Reviewed knee CT"]
    assert titles(ReviewerFactory()) == []
    assert titles(admin_user) == ["Otto's own project", "Reviewed knee CT", "Secret brain MRI project"]
    body = api_client(other_researcher).get(LIST).content.decode()
    assert "Secret brain MRI" not in body and "Reviewed knee CT" not in body
    # The invited reviewer reads the list's row (the invitation page's details) and nothing
    # more until they accept: not the intended uses, data sources or listing choice.
    row = api_client(invited).get(LIST).json()["results"][0]
    assert row["summary"] == reviewed.summary and row["owner_name"] == "Rosa Researcher"
    assert not {"intended_use", "prohibited_uses", "data_sources", "public_listing"} & set(row)
    assert reviewed.data_sources not in api_client(invited).get(LIST).content.decode()
    assert api_client(invited).get(_detail(reviewed)).status_code == 404
    assert api_client(assigned).get(_detail(reviewed)).json()["title"] == "Reviewed knee CT"


# ---- the list's filters: the page's -----------------------------------------------------------


@pytest.fixture
def several(catalogue, researcher) -> dict[str, Project]:
    made = {
        "ct": ProjectFactory(owner=researcher, title="Alpha lung CT", modalities=[Modality.CT]),
        "mr": ProjectFactory(
            owner=researcher,
            title="Beta brain MRI",
            modalities=[Modality.MR],
            synthesis_task=SynthesisTask.SUPER_RESOLUTION,
            summary="Upsampling thick slices.",
        ),
        "xr": ProjectFactory(owner=researcher, title="Gamma chest X-ray", modalities=[Modality.XRAY, Modality.CT]),
    }
    Project.objects.filter(pk=made["xr"].pk).update(status=ProjectStatus.SUBMITTED)
    return made


def _titles(client: Any, query: str) -> list[str]:
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


def test_the_list_filters_and_sorts_like_the_page(several, researcher):
    client = api_client(researcher)
    assert _titles(client, "modality=CT&sort=title") == ["Alpha lung CT", "Gamma chest X-ray"]
    assert _titles(client, "task=super_resolution") == ["Beta brain MRI"]
    assert _titles(client, "q=upsampling") == ["Beta brain MRI"]
    assert _titles(client, "status=submitted") == ["Gamma chest X-ray"]
    assert _titles(client, "status=draft&status=submitted&sort=-title") == [
        "Gamma chest X-ray",
        "Beta brain MRI",
        "Alpha lung CT",
    ]
    assert _titles(client, f"version={several['ct'].guideline_version_id}&sort=title")[0] == "Alpha lung CT"
    paged = client.get(f"{LIST}?sort=title&page_size=2&page=2").json()
    assert paged["count"] == 3 and [row["title"] for row in paged["results"]] == ["Gamma chest X-ray"]
    assert paged["previous"] is not None and paged["next"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=sleeping", "status"),
        ("modality=EEG", "modality"),
        ("sort=random", "sort"),
        ("version=abc", "version"),
        ("submitted_after=yesterday", "submitted_after"),
        ("submitted_after=2026-02-01&submitted_before=2026-01-01", "submitted_before"),
        ("q=" + "x" * 201, "q"),
        ("q=nul%00byte", "q"),
        ("version=99999999999999999999", "version"),
    ],
)
def test_a_wrong_filter_is_refused_naming_it(several, researcher, query, field):
    response = api_client(researcher).get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    "query", ["unassigned=1", "reviewer=1", "must_change=PF-1", "audit=privacy&audit_status=fail", "waived=privacy"]
)
def test_the_boards_filters_are_refused_to_researchers_and_reviewers(several, researcher, reviewer, query):
    for user in (researcher, reviewer):
        response = api_client(user).get(f"{LIST}?{query}")
        assert response.status_code == 400
        name = query.split("=")[0]
        assert response.json()["errors"][name] == ["Only administrators may filter by this."]


def test_administrators_use_the_boards_filters(several, admin_user):
    client = api_client(admin_user)
    assert _titles(client, "unassigned=1") == ["Gamma chest X-ray"]
    wrong = client.get(f"{LIST}?reviewer=not-a-number")
    assert wrong.status_code == 400 and "reviewer" in wrong.json()["errors"]


# ---- fixed query counts -----------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 12])
def test_the_list_runs_a_fixed_number_of_queries(catalogue, researcher, django_assert_num_queries, count):
    for n in range(count):
        project = ProjectFactory(owner=researcher, title=f"Project {n}")
        _answer_all(project) if n % 3 == 0 else None
    client = api_client(researcher)
    first = client.get(f"{LIST}?sort=-submitted&modality=XR")
    # The token (1); the page's count (1), its ids (1) and its rows (1). The first request also
    # wrote the token's last use (at most once a minute) and counted the items of the published
    # version (once per process: reviews.selectors.projects.version_item_totals).
    with django_assert_num_queries(4):
        response = client.get(f"{LIST}?sort=-submitted&modality=XR")
    assert response.json()["count"] == count
    assert response.json() == first.json()


@pytest.mark.parametrize("answered", [False, True])
def test_a_project_and_its_checklist_run_a_fixed_number_of_queries(
    project, researcher, django_assert_num_queries, answered
):
    if answered:
        _answer_all(project)
    client = api_client(researcher)
    # The token, its last use (written: the token's first), the project; then its progress.
    with django_assert_num_queries(4):
        client.get(_detail(project))
    # The token (its use seconds ago is not written again), the project; stages, answers, their
    # files (none to look up before anything is answered), items.
    with django_assert_num_queries(6 if answered else 5):
        client.get(_detail(project, "checklist/"))


def test_an_accepted_reviewer_reads_what_the_pages_show_and_changes_nothing(project, researcher, admin_user):
    _answer_all(project)
    from reviews.services.projects import project_submit

    project_submit(actor=researcher, project=project)
    assigned = ReviewerFactory()
    assignment_create(actor=admin_user, project=project, reviewer=assigned)
    assignment_respond(actor=assigned, project=project, accept=True)
    client = api_client(assigned)
    assert client.get(_detail(project)).json()["title"] == "Secret brain MRI project"
    assert client.get(_detail(project, "checklist/")).status_code == 200
    refused = client.patch(_detail(project), {"title": "A reviewer's title"}, format="json")
    assert refused.status_code == 403 and refused.json()["detail"] == "Only the project's researcher can change it."


def test_a_second_researchers_token_sees_nothing_of_the_first(project, researcher):
    stranger = ResearcherFactory()
    _answer_all(project)
    client = api_client(stranger)
    assert client.get(LIST).json()["count"] == 0
    code = _required(project)[0].code
    assert client.get(_detail(project, f"answers/{code}/")).status_code == 404
