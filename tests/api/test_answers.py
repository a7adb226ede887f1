"""Checklist answers and evidence files through the API: the answer page's rules and messages,
hostile input refused with the field named (never a 500), and files looked up only inside the
project the caller may see."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

from reviews.enums import AnswerStatus
from reviews.models import Answer, EvidenceFile, GuidelineItem, Project
from reviews.services.projects import answer_save
from reviews.validators import LONG_TEXT, validate_evidence_file
from tests.api.client import api_client
from tests.factories import ProjectFactory
from tests.workflow import attach_evidence


def _item(project: Project) -> GuidelineItem:
    item = GuidelineItem.objects.filter(version=project.guideline_version_id).order_by("stage__order", "order").first()
    assert item is not None
    return item


def _answer_url(project: Project, code: str, tail: str = "") -> str:
    return f"/api/v1/projects/{project.pk}/answers/{code}/{tail}"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 8), color=128).save(out, format="PNG")
    return out.getvalue()


# ---- saving an answer -------------------------------------------------------------------------


def test_an_answer_is_read_and_saved_with_the_pages_rules(project, researcher):
    client = api_client(researcher)
    item = _item(project)
    empty = client.get(_answer_url(project, item.code)).json()
    assert empty["code"] == item.code and empty["requirement"] == item.requirement
    assert empty["answer"] == {
        "status": "",
        "status_display": "Not answered yet",
        "justification": "",
        "evidence_text": "",
        "updated_at": None,
        "files": [],
    }
    assert empty["problem"] == ("not answered" if item.required else "")

    refused = client.put(_answer_url(project, item.code), {"status": "not_applicable"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("justification: Explain why")
    assert refused.json()["errors"] == {
        "justification": ["Explain why this item is not applicable: a justification is required."]
    }
    assert not Answer.objects.filter(project=project).exists()

    saved = client.put(
        _answer_url(project, item.code),
        {"status": "not_applicable", "justification": "  No patients were involved.  ", "evidence_text": "*None.*"},
        format="json",
    )
    assert saved.status_code == 200
    answer = Answer.objects.get(project=project, item=item)
    assert answer.status == AnswerStatus.NOT_APPLICABLE and answer.justification == "No patients were involved."
    assert saved.json()["answer"]["status_display"] == "Not applicable"
    assert saved.json()["problem"] == ""

    # A PUT is the whole answer: what it leaves out is emptied, as the page's form does.
    cleared = client.put(_answer_url(project, item.code), {"status": ""}, format="json")
    assert cleared.status_code == 200
    answer.refresh_from_db()
    assert (answer.status, answer.justification, answer.evidence_text) == ("", "", "")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "perfect"}, "status"),
        ({"status": 5}, "status"),
        ({"status": None}, "status"),
        ({}, "status"),
        ({"status": "met", "justification": ["a", "list"]}, "justification"),
        ({"status": "met", "justification": {"nested": True}}, "justification"),
        ({"status": "met", "evidence_text": "x" * (LONG_TEXT + 1)}, "evidence_text"),
        ({"status": "not_met", "justification": "   "}, "justification"),
        ({"status": "met", "evidence_text": "a nul \x00 byte"}, "evidence_text"),
    ],
)
def test_hostile_answers_are_refused_naming_the_field(project, researcher, body, field):
    item = _item(project)
    response = api_client(researcher).put(_answer_url(project, item.code), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Answer.objects.filter(project=project).exists()


@pytest.mark.parametrize("code", ["NOPE-1", "x" * 300, "%00", "..", "PF-1%20OR%201=1"])
def test_an_unknown_item_code_is_not_found(project, researcher, code):
    client = api_client(researcher)
    for response in (
        client.get(_answer_url(project, code)),
        client.put(_answer_url(project, code), {"status": "met"}, format="json"),
    ):
        assert response.status_code == 404
        assert "no item" in response.json()["detail"]
    assert not Answer.objects.filter(project=project).exists()


def test_an_item_of_another_guideline_version_is_not_found(project, researcher):
    """Codes are looked up in the project's own version: another version's item is no item here."""
    client = api_client(researcher)
    codes = set(GuidelineItem.objects.filter(version=project.guideline_version_id).values_list("code", flat=True))
    foreign = GuidelineItem.objects.exclude(version=project.guideline_version_id).exclude(code__in=codes).first()
    if foreign is not None:
        assert client.get(_answer_url(project, foreign.code)).status_code == 404
    assert client.get(_answer_url(project, "PF-0")).status_code == 404


# ---- evidence files ---------------------------------------------------------------------------


def test_an_evidence_file_is_checked_by_its_content_and_named_when_refused(project, researcher):
    client = api_client(researcher)
    url = _answer_url(project, _item(project).code, "evidence/")
    cases = [
        (SimpleUploadedFile("report.pdf", b"not a pdf at all"), "“report.pdf” is not a PDF"),
        (SimpleUploadedFile("scan.png", b"\x89PNG\r\n\x1a\nbroken"), "“scan.png” is not a readable PNG image"),
        (SimpleUploadedFile("photo.jpg", _png()), "“photo.jpg” is not a JPEG image"),
        (SimpleUploadedFile("tool.exe", b"MZ\x90\x00"), "“tool.exe” is not an accepted type"),
        (SimpleUploadedFile("empty.txt", b""), "“empty.txt” is empty"),
        (SimpleUploadedFile("data.json", b"{broken"), "“data.json” is not valid JSON"),
        (SimpleUploadedFile("notes.txt", b"\x00\x01\x02binary"), "“notes.txt” is not a UTF-8 text file"),
    ]
    for upload, message in cases:
        response = client.post(url, {"file": upload}, format="multipart")
        assert response.status_code == 400, response.content
        assert response.json()["errors"]["file"][0].startswith(message), response.json()
    assert not EvidenceFile.objects.exists()
    good = client.post(url, {"file": SimpleUploadedFile("figure.png", _png())}, format="multipart")
    assert good.status_code == 201 and good.json()["content_type"] == "image/png"
    second = client.post(url, {"file": SimpleUploadedFile("second.csv", b"a,b\n1,2\n")}, format="multipart")
    assert second.status_code == 201 and second.json()["content_type"] == "text/csv"
    files = client.get(_answer_url(project, _item(project).code)).json()["answer"]["files"]
    assert [f["name"] for f in files] == ["figure.png", "second.csv"]  # in the order they came


def test_an_upload_without_a_file_or_with_two_is_refused(project, researcher):
    client = api_client(researcher)
    url = _answer_url(project, _item(project).code, "evidence/")
    assert client.post(url, {"note": "no file"}, format="multipart").json()["errors"] == {
        "file": ["Send the file as the multipart field “file”."]
    }
    two = [SimpleUploadedFile("a.txt", b"a"), SimpleUploadedFile("b.txt", b"b")]
    assert client.post(url, {"file": two}, format="multipart").json()["errors"] == {
        "file": ["Send one file per request."]
    }
    json_body = client.post(url, {"file": "text"}, format="json")
    assert json_body.status_code == 415
    assert not EvidenceFile.objects.exists()


@override_settings(EVIDENCE_MAX_BYTES=1000)
def test_a_file_over_the_limit_is_skipped_while_it_streams_and_named(project, researcher):
    response = api_client(researcher).post(
        _answer_url(project, _item(project).code, "evidence/"),
        {"file": SimpleUploadedFile("large.txt", b"x" * 5000)},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["errors"]["file"] == [
        "“large.txt” is larger than the limit of 1000\xa0bytes and was not uploaded."
    ]
    assert not EvidenceFile.objects.exists()


def test_a_body_over_the_request_cap_is_refused_before_it_is_read(project, researcher, settings):
    settings.REQUEST_LIMITS = {**settings.REQUEST_LIMITS, "api:answer-evidence-upload": 2000}
    response = api_client(researcher).post(
        _answer_url(project, _item(project).code, "evidence/"),
        {"file": SimpleUploadedFile("large.txt", b"x" * 5000)},
        format="multipart",
    )
    assert response.status_code == 413 and "nothing of it was read" in response.json()["detail"]
    assert not EvidenceFile.objects.exists()


def test_an_upload_to_a_project_the_token_may_not_change_is_refused_before_its_body_is_read(
    project, other_researcher, settings
):
    # Above what the API parses for anyone in memory, so the request cap judges the sender first.
    big = SimpleUploadedFile("large.txt", b"evidence\n" * (settings.ANONYMOUS_REQUEST_MAX_BYTES // 8))
    response = api_client(other_researcher).post(
        _answer_url(project, _item(project).code, "evidence/"), {"file": big}, format="multipart"
    )
    assert response.status_code == 404 and response.json() == {"detail": "No such project."}
    assert not EvidenceFile.objects.exists()


def test_evidence_is_looked_up_inside_the_project(project, researcher, other_researcher):
    item = _item(project)
    own = attach_evidence(project, "own.txt", b"OWN-BYTES", item=item)
    foreign_project = ProjectFactory(owner=other_researcher, guideline_version=project.guideline_version)
    foreign = attach_evidence(foreign_project, "foreign.txt", b"FOREIGN-BYTES", item=item)
    client = api_client(researcher)
    for tail in ("", "content/"):
        smuggled = client.get(f"/api/v1/projects/{project.pk}/evidence/{foreign.pk}/{tail}")
        assert smuggled.status_code == 404 and b"FOREIGN" not in smuggled.content
    assert client.delete(f"/api/v1/projects/{project.pk}/evidence/{foreign.pk}/").status_code == 404
    assert EvidenceFile.objects.filter(pk=foreign.pk).exists()
    # The other researcher reaches neither the project nor its file through their own project.
    other = api_client(other_researcher)
    assert other.get(f"/api/v1/projects/{foreign_project.pk}/evidence/{own.pk}/content/").status_code == 404
    assert other.get(f"/api/v1/projects/{project.pk}/evidence/{own.pk}/content/").status_code == 404
    detail = client.get(f"/api/v1/projects/{project.pk}/evidence/{own.pk}/").json()
    assert detail["name"] == "own.txt" and detail["item"] == item.code and detail["size"] == 9


def test_a_file_missing_from_storage_is_not_found_not_an_error(project, researcher):
    evidence = attach_evidence(project, "gone.txt", b"GONE", item=_item(project))
    evidence.file.storage.delete(evidence.file.name)
    response = api_client(researcher).get(f"/api/v1/projects/{project.pk}/evidence/{evidence.pk}/content/")
    assert response.status_code == 404


def test_an_accepted_reviewer_downloads_evidence_and_an_invited_one_does_not(project, researcher, admin_user):
    from reviews.services.assignments import assignment_create, assignment_respond
    from reviews.services.projects import project_submit
    from tests.factories import ReviewerFactory

    for row in GuidelineItem.objects.filter(version=project.guideline_version_id, required=True):
        answer_save(
            actor=researcher, project=project, item=row, status=AnswerStatus.MET, justification="", evidence_text=""
        )
    evidence = attach_evidence(project, "shared.txt", b"SHARED-BYTES", item=_item(project))
    project_submit(actor=researcher, project=project)
    invited, assigned = ReviewerFactory(), ReviewerFactory()
    for user in (invited, assigned):
        assignment_create(actor=admin_user, project=project, reviewer=user)
    assignment_respond(actor=assigned, project=project, accept=True)
    url = f"/api/v1/projects/{project.pk}/evidence/{evidence.pk}/content/"
    accepted = api_client(assigned).get(url)
    assert accepted.status_code == 200 and b"".join(accepted.streaming_content) == b"SHARED-BYTES"
    refused = api_client(invited).get(url)
    assert refused.status_code == 404 and b"SHARED" not in refused.content


def test_a_download_is_the_file_whatever_the_client_accepts(project, researcher):
    evidence = attach_evidence(project, "table.txt", b"A TABLE", item=_item(project))
    client = api_client(researcher)
    response = client.get(
        f"/api/v1/projects/{project.pk}/evidence/{evidence.pk}/content/", HTTP_ACCEPT="application/octet-stream"
    )
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"A TABLE"
    missing = client.get(f"/api/v1/projects/{project.pk}/evidence/{evidence.pk + 1000}/content/")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"


@pytest.mark.parametrize("count", [1, 11])
def test_too_many_files_in_one_body_are_refused_not_an_error(project, researcher, count):
    files = [SimpleUploadedFile(f"f{n}.txt", b"x") for n in range(count)]
    response = api_client(researcher).post(
        _answer_url(project, _item(project).code, "evidence/"), {"file": files}, format="multipart"
    )
    assert response.status_code == (201 if count == 1 else 400)
    assert EvidenceFile.objects.count() == (1 if count == 1 else 0)


def test_an_upload_refused_by_the_service_leaves_no_bytes_behind(project, researcher):
    """evidence_add writes the bytes before it takes the project's lock; when the project turns
    out not to be editable any more, they are removed again and no row is left."""
    from reviews.services.projects import ProjectNotEditable, evidence_add

    Project.objects.filter(pk=project.pk).update(status="submitted")  # changed since the check
    evidence = validate_evidence_file(SimpleUploadedFile("late.txt", b"LATE-BYTES", content_type="text/plain"))
    storage = EvidenceFile._meta.get_field("file").storage  # type: ignore[attr-defined]
    before = set(storage.listdir("evidence")[1]) if storage.exists("evidence") else set()
    with pytest.raises(ProjectNotEditable):
        evidence_add(actor=researcher, project=project, item=_item(project), files=[evidence])
    after = set(storage.listdir("evidence")[1]) if storage.exists("evidence") else set()
    assert after == before
    assert not EvidenceFile.objects.exists() and not Answer.objects.exists()


def test_an_item_of_the_version_the_project_moved_from_is_refused_and_leaves_no_bytes(project, researcher, admin_user):
    """The API looks the item up before the services take the project's lock: a move to a newer
    guideline version committed in between is refused with why (ItemNotInVersion, a 409), not
    written to the old version's item nor answered with a 500."""
    from reviews.services.catalogue import guideline_version_new_draft, guideline_version_publish
    from reviews.services.projects import ItemNotInVersion, evidence_add
    from reviews.services.versions import project_move_version

    item = _item(project)  # looked up on the version the project had
    newer = guideline_version_new_draft(source=project.guideline_version, actor=admin_user)
    guideline_version_publish(version=newer, actor=admin_user)
    project_move_version(project=project, actor=researcher, target=newer)
    evidence = validate_evidence_file(SimpleUploadedFile("late.txt", b"LATE-BYTES", content_type="text/plain"))
    storage = EvidenceFile._meta.get_field("file").storage  # type: ignore[attr-defined]
    before = set(storage.listdir("evidence")[1]) if storage.exists("evidence") else set()
    with pytest.raises(ItemNotInVersion, match="moved to another guideline version"):
        evidence_add(actor=researcher, project=project, item=item, files=[evidence])
    with pytest.raises(ItemNotInVersion):
        answer_save(actor=researcher, project=project, item=item, status="met", justification="", evidence_text="")
    after = set(storage.listdir("evidence")[1]) if storage.exists("evidence") else set()
    assert after == before
    assert not EvidenceFile.objects.exists() and not Answer.objects.exists()
