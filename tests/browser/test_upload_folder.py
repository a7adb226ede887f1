"""A researcher picks a folder's worth of loose DICOM files on the upload page: one upload
takes them all, and the set's page says how many arrived."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audits.models import ImageSet
from tests.audits.images import dicom_source
from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory

pytestmark = pytest.mark.browser

FOLDER = 300


def test_a_folder_of_loose_files_uploads_in_one_go(page: Page, shot, browser_errors, tmp_path: Path, catalogue) -> None:
    owner = ResearcherFactory(username="fay")
    project = ProjectFactory(owner=owner, guideline_version=catalogue)
    ct = dicom_source("CT_small.dcm").read_bytes()
    chosen = []
    for k in range(FOLDER):
        path = tmp_path / f"slice-{k:03d}.dcm"
        path.write_bytes(ct)
        chosen.append(str(path))
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/projects/{project.pk}/audits/upload/")
    expect(page.locator("#upload-limits")).to_contain_text("at most 500 image files or archives")
    page.get_by_label("Images").set_input_files(chosen)
    expect(page.locator("[data-upload-refusal]")).to_be_hidden()
    shot("chosen")
    page.get_by_role("button", name="Upload and check").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/audits/sets/\d+/$"), timeout=60_000)
    expect(page.get_by_text(f"Upload received: {FOLDER} files.")).to_be_visible()
    shot("received")
    assert len(ImageSet.objects.get(project=project).staged) == FOLDER
    assert browser_errors == []
