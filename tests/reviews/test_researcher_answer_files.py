"""Too many evidence files on an answer: a readable refusal, never a bare 400, nothing changed."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from reviews.enums import AnswerStatus
from reviews.forms import MAX_FILES_PER_ANSWER
from reviews.models import Answer, EvidenceFile, GuidelineItem
from reviews.services.projects import answer_save

pytestmark = pytest.mark.django_db


def notes(count: int) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(f"note-{k}.txt", b"Protocol section 3.", content_type="text/plain") for k in range(count)
    ]


def test_more_files_than_django_parses_show_the_answer_page_with_why(project, researcher) -> None:
    item = GuidelineItem.objects.get(version=project.guideline_version_id, code="EV-5")
    answer_save(
        actor=researcher, project=project, item=item, status=AnswerStatus.MET, justification="", evidence_text="Saved."
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    url = reverse("answer-edit", kwargs={"pk": project.pk, "code": "EV-5"})
    client.get(url)
    token = client.cookies["csrftoken"].value
    data = {"status": "partly_met", "evidence_text": "Typed, not saved.", "csrfmiddlewaretoken": token}

    # past the count the answer form is parsed with (10, Django's default), not the image-set page's 503
    assert settings.UPLOAD_FILE_COUNT_DEFAULT + 1 < settings.DATA_UPLOAD_MAX_NUMBER_FILES
    response = client.post(url, {**data, "evidence_files": notes(settings.UPLOAD_FILE_COUNT_DEFAULT + 1)})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"Too many files: attach at most {MAX_FILES_PER_ANSWER} evidence files at a time." in html
    assert "Traceback" not in html and 'name="evidence_text"' in html
    answer = Answer.objects.get(project=project, item=item)
    assert (answer.status, answer.evidence_text) == (AnswerStatus.MET, "Saved.") and not EvidenceFile.objects.exists()
    assert f'data-max-files="{MAX_FILES_PER_ANSWER}"' in html

    # Within Django's limit the form's own check speaks, with what was typed kept; with the
    # token, an allowed number of files is saved.
    response = client.post(url, {**data, "evidence_files": notes(MAX_FILES_PER_ANSWER + 1)})
    assert response.status_code == 400 and "Attach at most 5 files at a time." in response.content.decode()
    assert "Typed, not saved." in response.content.decode()
    assert client.post(url, {**data, "evidence_files": notes(2)}).status_code == 302
    assert EvidenceFile.objects.count() == 2
    # Without the token nothing is saved: the CSRF check still guards every save.
    assert client.post(url, {"status": "met", "evidence_text": "forged"}).status_code == 403


def test_a_body_of_text_over_djangos_limit_shows_the_answer_page_with_why(project, researcher) -> None:
    item = GuidelineItem.objects.get(version=project.guideline_version_id, code="EV-5")
    answer_save(
        actor=researcher, project=project, item=item, status=AnswerStatus.MET, justification="", evidence_text="Saved."
    )
    client = Client()
    client.force_login(researcher)
    url = reverse("answer-edit", kwargs={"pk": project.pk, "code": "EV-5"})
    huge = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.post(url, {"status": "partly_met", "evidence_text": huge})
    assert response.status_code == 400
    html = response.content.decode()
    assert "more than this page accepts, so nothing was saved" in html and 'name="evidence_text"' in html
    assert Answer.objects.get(project=project, item=item).evidence_text == "Saved."
