"""The audit pages at 390 px wide: tables scroll inside their own box, the page never sideways."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from audits.enums import RunStatus, SetRole
from audits.selectors import AUDITS
from tests.audits.test_pages import CT_SMALL, REJECTED_NAME, SYNTHETIC_NAME, add_run, add_set, make_result
from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _too_wide(page: Page) -> list[str]:
    """The outermost elements that reach past the viewport: what to fix when this fails."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .filter((e) => !(e.parentElement && e.parentElement.getBoundingClientRect().right > window.innerWidth + 1))
            .slice(0, 5)
            .map((e) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`)"""
    )


def test_the_audit_pages_fit_a_phone(page: Page, shot, browser_errors, catalogue) -> None:
    owner = ResearcherFactory(username="nora")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic abdominal CT for segmentation")
    dicom = CT_SMALL.read_bytes()
    synthetic = add_set(
        project,
        owner,
        SetRole.SYNTHETIC,
        {SYNTHETIC_NAME: dicom, REJECTED_NAME: "pixel data is shorter than the header says"},
    )
    add_set(project, owner, SetRole.REFERENCE, {"reference/patient-0007-ct-with-a-rather-long-file-name.dcm": dicom})
    runs = [
        add_run(
            project,
            results={audit: make_result(audit, "fail" if k % 2 else "pass") for k, audit in enumerate(AUDITS)},
            reason="synthetic set uploaded by Nora with a long reason",
        )
        for _ in range(3)
    ]
    add_run(project, status=RunStatus.RUNNING, results=None, progress=40, progress_message="Reading images")

    page.set_viewport_size(PHONE)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile("/accounts/login/"))

    pages = {
        "overview": f"/projects/{project.pk}/audits/",
        "run": runs[-1].get_absolute_url(),
        "set": f"/projects/{project.pk}/audits/sets/{synthetic.pk}/",
        "upload": f"/projects/{project.pk}/audits/upload/",
        **{f"result-{audit}": f"{runs[-1].get_absolute_url()}{audit}/" for audit in AUDITS},
    }
    wide = []
    for name, url in pages.items():
        page.goto(url)
        expect(page.locator("main, body").first).to_be_visible()
        shot(name)
        if not _fits(page):
            wide.append((name, _too_wide(page)))
    assert wide == []
    # The run history keeps every column, inside its own scrolling box.
    page.goto(pages["overview"])
    history = page.locator("#history-heading").locator("xpath=ancestor::section[1]").locator(".table-responsive")
    expect(history).to_be_visible()
    assert browser_errors == []


def test_the_researchers_review_pages_fit_a_phone(page: Page, shot, browser_errors, catalogue) -> None:
    from tests.browser.test_researcher_tasks import _changes_requested_with_a_failing_audit

    project, round_ = _changes_requested_with_a_failing_audit(catalogue)
    page.set_viewport_size(PHONE)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(project.owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile("/accounts/login/"))
    pages = {
        "overview": f"/projects/{project.pk}/",
        "checklist": f"/projects/{project.pk}/checklist/",
        "answer": f"/projects/{project.pk}/checklist/EV-5/",
        "submit": f"/projects/{project.pk}/submit/",
        "round": round_.get_absolute_url(),
        "edit": f"/projects/{project.pk}/edit/",
    }
    wide = []
    for name, url in pages.items():
        page.goto(url)
        shot(name)
        if not _fits(page):
            wide.append((name, _too_wide(page)))
    assert wide == []
    assert browser_errors == []
