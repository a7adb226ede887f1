"""API requests racing other writes to the same project. Two clients submitting at once (a
pipeline retried, two scripts): one round is frozen, the other request is refused with a
reason, never a 500 and never a second round. A write that read the project before another
committed: it neither undoes that edit nor answers a 500. Real PostgreSQL, each request on its
own connection (tests.reviews.test_concurrency)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from reviews.enums import Action, AnswerStatus, ProjectStatus
from reviews.forms import ProjectForm
from reviews.models import ActivityEntry, Answer, EvidenceFile, GuidelineItem, Project, Round
from reviews.services.activity import field_values
from reviews.services.catalogue import guideline_version_new_draft, guideline_version_publish
from reviews.services.projects import PROJECT_FIELDS, answer_save, project_update
from reviews.services.versions import project_move_version
from tests.api.client import client_with, make_token
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory
from tests.reviews.test_concurrency import TIMEOUT, _backend_waits_on_a_lock, run_together

T = TypeVar("T")

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


# ---- a write that read the project before another one committed under its lock ---------------


def _while_held(hold: Callable[[], None], request: Callable[[], T]) -> T:
    """`request` reads the project while `hold`, in another transaction, holds its row lock,
    and takes the lock only once `hold` has committed: the pause between a request's read and
    its lock, in which another page or client commits first, made certain."""
    held, go = threading.Event(), threading.Event()
    request_pid: list[int] = []

    def holder() -> None:
        with transaction.atomic():
            hold()
            held.set()
            assert go.wait(TIMEOUT)

    def requester() -> T:
        assert held.wait(TIMEOUT)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            request_pid.append(cursor.fetchone()[0])
        return request()

    def release() -> None:
        try:
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and not (request_pid and _backend_waits_on_a_lock(request_pid[0])):
                time.sleep(0.02)
            go.set()
        finally:
            connections.close_all()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    results = run_together(holder, requester)
    releaser.join(TIMEOUT)
    assert [repr(result.error) for result in results if result.error] == []
    return cast(T, results[1].value)


def test_a_patch_of_the_title_keeps_a_summary_saved_on_the_page_meanwhile():
    researcher = ResearcherFactory()
    project = ProjectFactory(owner=researcher, title="Title before", summary="The summary before.")
    raw = make_token(researcher)[1]
    summary = "A summary the researcher saved on the page while the pipeline patched the title."

    def page_edit() -> None:
        """The edit page's POST: every field, as its user saw and typed them."""
        stored = Project.objects.get(pk=project.pk)
        form = ProjectForm({**field_values(stored, PROJECT_FIELDS), "summary": summary}, instance=stored)
        assert form.is_valid(), form.errors
        project_update(actor=researcher, project=stored, data=form.cleaned_data)

    def patch() -> Any:
        return client_with(raw).patch(f"/api/v1/projects/{project.pk}/", {"title": "Title from A"}, format="json")

    response = _while_held(page_edit, patch)
    assert response.status_code == 200, response.content
    assert (response.json()["title"], response.json()["summary"]) == ("Title from A", summary)
    stored = Project.objects.get(pk=project.pk)
    assert (stored.title, stored.summary) == ("Title from A", summary)
    changes = ActivityEntry.objects.filter(project=project, action=Action.CHANGE).order_by("pk")
    assert [(entry.old, entry.new) for entry in changes] == [
        ({"summary": "The summary before."}, {"summary": summary}),
        ({"title": "Title before"}, {"title": "Title from A"}),
    ]


MOVED = (
    "This project moved to another guideline version while this was being saved, so nothing was saved: "
    "read the checklist again, then save once more."
)


@pytest.mark.parametrize("way", ["api-answer", "api-upload", "answer-page"])
def test_an_answer_saved_while_the_project_moves_to_a_newer_version_is_refused_with_why(way):
    """The item is looked up on the version the project had; the move commits before the save
    takes the project's lock: a 409 (API) or the page again (400) saying why, nothing saved."""
    admin, researcher = AdminFactory(), ResearcherFactory()
    project = ProjectFactory(owner=researcher)
    item = GuidelineItem.objects.filter(version=project.guideline_version_id).order_by("stage__order", "order")[0]
    newer = guideline_version_new_draft(source=project.guideline_version, actor=admin)
    guideline_version_publish(version=newer, actor=admin)
    raw = make_token(researcher)[1]
    storage = EvidenceFile._meta.get_field("file").storage  # type: ignore[attr-defined]
    stored_before = set(storage.listdir("evidence")[1]) if storage.exists("evidence") else set()

    def move() -> None:
        project_move_version(project=Project.objects.get(pk=project.pk), actor=researcher, target=newer)

    def save() -> Any:
        url = f"/api/v1/projects/{project.pk}/answers/{item.code}/"
        if way == "api-answer":
            body = {"status": "met", "justification": "", "evidence_text": "Typed while it moved."}
            return client_with(raw).put(url, body, format="json")
        upload = SimpleUploadedFile("moved.txt", b"MOVED-BYTES", content_type="text/plain")
        if way == "api-upload":
            return client_with(raw).post(url + "evidence/", {"file": upload}, format="multipart")
        page = Client()
        page.force_login(researcher)
        body = {
            "status": "met",
            "justification": "",
            "evidence_text": "Typed while it moved.",
            "evidence_files": upload,
        }
        return page.post(reverse("answer-edit", kwargs={"pk": project.pk, "code": item.code}), body)

    response = _while_held(move, save)
    assert Project.objects.get(pk=project.pk).guideline_version_id == newer.pk
    if way == "answer-page":
        assert response.status_code == 400
        page = response.content.decode()
        assert MOVED in page and "Typed while it moved." in page  # what was typed is still in the form
    else:
        assert response.status_code == 409, response.content
        assert response.json() == {"detail": MOVED}
    assert not Answer.objects.filter(project=project).exists() and not EvidenceFile.objects.exists()
    stored_after = set(storage.listdir("evidence")[1]) if storage.exists("evidence") else set()
    assert stored_after == stored_before  # the staged bytes were removed again
