"""An administrator prepares, checks and publishes a new guideline version in the app; the
researcher whose draft is on the old version moves it, answers carried by item code."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from reviews.enums import AnswerStatus, VersionStatus
from reviews.models import Answer, GuidelineItem, GuidelineVersion, Project
from reviews.services.projects import answer_save
from tests.factories import PASSWORD, AdminFactory, ProjectFactory, ResearcherFactory

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
NEW_WORDING = "State the clinical problem the synthetic images serve, and who decides with them."
NEW_ITEM = "Name the person who can stop the project, and how the public reaches them."


def _login(page: Page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _fits(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _answer(project: Project, code: str, **values: str) -> None:
    item = GuidelineItem.objects.get(version=project.guideline_version_id, code=code)
    answer_save(actor=project.owner, project=project, item=item, **{"justification": "", **values})


def test_an_admin_publishes_a_new_version_and_the_researcher_moves_their_draft(
    page: Page, shot, browser_errors, catalogue
) -> None:
    AdminFactory(username="ada", full_name="Ada Admin")
    owner = ResearcherFactory(username="rhea", full_name="Rhea Researcher")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic knee MRI for segmentation")
    _answer(project, "PF-1", status=AnswerStatus.MET, evidence_text="Orthopaedic surgeons asked for it.")
    _answer(project, "PF-2", status=AnswerStatus.MET, evidence_text="Intended users listed.")
    _answer(project, "DC-1", status=AnswerStatus.PARTLY_MET, evidence_text="Consent text kept in the study folder.")
    page.on("dialog", lambda dialog: dialog.accept())

    # The admin starts a draft from the published version.
    _login(page, "ada")
    page.goto(f"/catalogue/{catalogue.pk}/")
    page.get_by_role("button", name="Start a new draft from this version").click()
    expect(page.get_by_role("heading", name="This draft is not in force yet")).to_be_visible()
    draft = GuidelineVersion.objects.get(status=VersionStatus.DRAFT)
    assert draft.parent_id == catalogue.pk

    # Edits PF-1, adds PF-9, removes DC-1.
    page.get_by_role("link", name="Edit PF-1").click()
    page.get_by_label("Requirement").fill(NEW_WORDING)
    shot("item-form")
    page.get_by_role("button", name="Save item").click()
    expect(page.locator(".alert-success")).to_contain_text("Item PF-1 saved.")
    expect(page.locator("#item-PF-1")).to_contain_text(NEW_WORDING)

    page.get_by_role("link", name="Add an item to stage PF").click()
    page.get_by_label("Code").fill("PF-1")  # taken: refused with why, nothing typed is lost
    page.get_by_label("Requirement").fill(NEW_ITEM)
    page.get_by_role("button", name="Add item").click()
    expect(page.get_by_text("An item with the code PF-1 already exists in this version.")).to_be_visible()
    expect(page.get_by_label("Requirement")).to_have_value(NEW_ITEM)
    shot("duplicate-code")
    page.get_by_label("Code").fill("PF-9")
    page.get_by_role("button", name="Add item").click()
    expect(page.locator("#item-PF-9")).to_contain_text(NEW_ITEM)

    page.get_by_role("button", name="Remove DC-1").click()
    expect(page.locator(".alert-success")).to_contain_text("Item DC-1 removed.")
    expect(page.locator("#item-DC-1")).to_have_count(0)
    shot("draft-editor")
    page.set_viewport_size(PHONE)
    assert _fits(page), "the draft editor scrolls sideways at 390 px"
    shot("draft-editor-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The review policy, on the same pages.
    page.get_by_role("link", name="Notes and review policy", exact=True).click()
    page.get_by_label("Approving signatures needed").fill("3")
    shot("settings")
    page.get_by_role("button", name="Save notes and policy").click()
    expect(page.locator("#policy-approvals")).to_have_text("3")

    # The diff against v1.
    page.get_by_role("link", name=re.compile("Changes against")).click()
    expect(page.locator("#diff-summary")).to_contain_text("1 added")
    expect(page.locator("#diff-added")).to_contain_text("PF-9")
    expect(page.locator("#diff-removed")).to_contain_text("DC-1")
    expect(page.locator("#change-PF-1")).to_contain_text("answers to be read again")
    expect(page.locator("#change-PF-1 .diff-added")).to_contain_text(NEW_WORDING)
    shot("diff")
    page.set_viewport_size(PHONE)
    assert _fits(page), "the diff scrolls sideways at 390 px"
    shot("diff-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The impact, then publication once confirmed.
    page.get_by_role("link", name="See the impact on projects").click()
    row = page.locator("#impact-table tbody tr", has_text=project.title)
    expect(row.locator("td[data-label='Changed']")).to_contain_text("PF-1")
    expect(row.locator("td[data-label='New (required)']")).to_contain_text("1 (1)")
    expect(row.locator("td[data-label='Removed']")).to_contain_text("DC-1")
    expect(page.locator("#impact-totals")).to_contain_text("1 project on older versions")
    shot("impact")
    page.set_viewport_size(PHONE)
    assert _fits(page), "the impact page scrolls sideways at 390 px"
    shot("impact-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name=re.compile("^Publish")).click()
    expect(page.get_by_text("Tick the box to confirm.")).to_be_visible()
    page.get_by_label(re.compile("I have read the impact")).check()
    page.get_by_role("button", name=re.compile("^Publish")).click()
    expect(page.locator(".alert-success")).to_contain_text("is published")
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED

    # The researcher sees the notice and moves the draft.
    _login(page, "rhea")
    page.goto(f"/projects/{project.pk}/")
    notice = page.locator("#newer-version")
    expect(notice).to_contain_text(f"A newer guideline version is available: {draft}")
    shot("notice")
    notice.get_by_role("link", name="See what changes and move").click()
    expect(page.locator("#move-dropped")).to_contain_text("Consent text kept in the study folder.")
    expect(page.locator("#move-changed")).to_contain_text("PF-1")
    expect(page.locator("#move-new")).to_contain_text("PF-9")
    shot("move")
    page.set_viewport_size(PHONE)
    assert _fits(page), "the move page scrolls sideways at 390 px"
    shot("move-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label(re.compile("Move this project to")).check()
    page.get_by_role("button", name=re.compile("^Move to")).click()
    expect(page.locator(".alert-success")).to_contain_text("Changed in version 2, answer again: PF-1")
    shot("checklist-after-move")

    project.refresh_from_db()
    assert project.guideline_version_id == draft.pk
    answers = {a.item.code: a for a in Answer.objects.filter(project=project).select_related("item")}
    assert set(answers) == {"PF-1", "PF-2"}
    assert answers["PF-1"].status == "" and answers["PF-1"].evidence_text == "Orthopaedic surgeons asked for it."
    assert answers["PF-2"].status == AnswerStatus.MET
    assert browser_errors == []
