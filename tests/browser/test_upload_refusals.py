"""Uploads the server would refuse are refused in the browser first: nothing is sent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audits.forms import _loose_file_limit
from audits.models import ImageSet
from tests.audits.images import dicom_source
from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory

pytestmark = pytest.mark.browser


def _log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile("/accounts/login/"))


def test_too_many_files_are_refused_before_upload(page: Page, shot, browser_errors, tmp_path: Path, catalogue) -> None:
    owner = ResearcherFactory(username="uma")
    project = ProjectFactory(owner=owner, guideline_version=catalogue)
    ct = dicom_source("CT_small.dcm").read_bytes()
    limit = _loose_file_limit()
    chosen = []
    for k in range(limit + 6):
        path = tmp_path / f"slice-{k:02d}.dcm"
        path.write_bytes(ct)
        chosen.append(str(path))
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    _log_in(page, owner.username)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.goto(f"/projects/{project.pk}/audits/upload/")
    expect(page.get_by_text(f"at most {limit} image files or archives")).to_be_visible()
    page.get_by_label("Images").set_input_files(chosen)
    refusal = page.get_by_role("alert").filter(has_text="Not sent, so nothing was uploaded or saved")
    # Said as soon as the files are picked, before anyone presses the button.
    expect(refusal).to_contain_text(f"{limit + 6} files chosen for “Images”: at most {limit} can be sent at a time.")
    expect(refusal).to_contain_text("Put the images in one zip or tar archive")
    page.get_by_role("button", name="Upload and check").click()
    expect(refusal).to_be_focused()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/audits/upload/$"))
    shot("too-many-files")

    # A file of another kind (by its name) is named with what the field takes.
    page.get_by_label("Images").set_input_files([chosen[0], str(tmp_path / "photo.jpg")])
    expect(refusal).to_contain_text("“photo.jpg” (Images) is not a kind of file this field takes")
    page.get_by_role("button", name="Upload and check").click()
    shot("wrong-kind")
    assert posts == [] and not ImageSet.objects.filter(project=project).exists()

    # Within the limits, the same form uploads.
    page.get_by_label("Images").set_input_files(chosen[:2])
    expect(refusal).to_be_hidden()
    page.get_by_role("button", name="Upload and check").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/audits/sets/\d+/$"), timeout=30_000)
    assert len(ImageSet.objects.get(project=project).staged) == 2
    assert browser_errors == []


def test_too_many_evidence_files_are_refused_before_the_answer_is_sent(
    page: Page, shot, browser_errors, tmp_path: Path, catalogue
) -> None:
    from reviews.forms import MAX_FILES_PER_ANSWER
    from reviews.models import Answer

    owner = ResearcherFactory(username="ugo")
    project = ProjectFactory(owner=owner, guideline_version=catalogue)
    chosen = []
    for k in range(MAX_FILES_PER_ANSWER + 1):
        path = tmp_path / f"protocol-{k}.txt"
        path.write_text("Section 3 describes the split.")
        chosen.append(str(path))
    _log_in(page, owner.username)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.goto(f"/projects/{project.pk}/checklist/EV-5/")
    page.get_by_label("Evidence", exact=True).fill("Typed and kept in the form.")
    page.get_by_label("Attach evidence files").set_input_files(chosen)
    refusal = page.get_by_role("alert").filter(has_text="Not sent, so nothing was uploaded or saved")
    expect(refusal).to_contain_text(f"at most {MAX_FILES_PER_ANSWER} can be sent at a time")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(refusal).to_be_focused()
    expect(page.get_by_label("Evidence", exact=True)).to_have_value("Typed and kept in the form.")
    shot("too-many-evidence-files")
    assert posts == [] and not Answer.objects.filter(project=project).exists()
    assert browser_errors == []
