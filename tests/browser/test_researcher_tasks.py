"""The researcher's overview lists what they must do, with links that lead there."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from audits.selectors import AUDITS
from audits.services.runs import audit_run_request
from reviews.enums import Meaning, OverclaimFinding, ProjectStatus, Verdict
from reviews.models import GuidelineItem
from reviews.services.review import VerdictInput, round_review_save
from tests.audits.test_pages import make_result
from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory
from tests.workflow import reviewers_on, sign, submitted

pytestmark = pytest.mark.browser

MUST_CHANGE = "EV-5"
COMMENT = "The split of patients between training and test sets is not described."
OVERCLAIM_NOTE = "The abstract claims clinical readiness; the evaluation stops at phase 1."


def _changes_requested_with_a_failing_audit(catalogue):
    """Round 1 ended by a change request: one item must change, the claims overreach, and the
    disclosure audit of the current images fails (no reviewer waived it)."""
    owner = ResearcherFactory(username="rhea", full_name="Rhea Researcher")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic knee MRI")
    ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=owner, digest="a" * 64, n_files=3, n_accepted=3
    )
    run = audit_run_request(project=project, actor=owner, reason="synthetic set uploaded")
    results = {audit: make_result(audit, "fail" if audit == "disclosure" else "pass") for audit in AUDITS}
    AuditRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, results=results, progress=100)
    round_ = submitted(project)
    technical, _clinical = reviewers_on(project)
    items = GuidelineItem.objects.filter(version=round_.guideline_version_id)
    round_review_save(
        actor=technical,
        round_=round_,
        verdicts=[
            VerdictInput(item=item, verdict=Verdict.MUST_CHANGE, comment=COMMENT)
            if item.code == MUST_CHANGE
            else VerdictInput(item=item, verdict=Verdict.ACCEPTABLE, comment="")
            for item in items
        ],
        declared_phase=1,
        overclaim=OverclaimFinding.OVERCLAIM,
        overclaim_note=OVERCLAIM_NOTE,
        submit=True,
    )
    sign(round_, technical, Meaning.REQUEST_CHANGES)
    project.refresh_from_db()
    assert project.status == ProjectStatus.CHANGES_REQUESTED
    return project, round_


def test_the_researchers_to_do_list_links_to_each_thing_to_do(page: Page, shot, browser_errors, catalogue) -> None:
    project, _round = _changes_requested_with_a_failing_audit(catalogue)
    disclosure_item = GuidelineItem.objects.filter(version=project.guideline_version_id, audit="disclosure").first()
    assert disclosure_item is not None

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("rhea")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/projects/{project.pk}/")
    tasks = page.locator("section#tasks")
    expect(tasks.get_by_role("heading", name="What you need to do")).to_be_visible()
    expect(tasks).to_contain_text(f"Tess Technical (round 1): {COMMENT}")
    expect(tasks).to_contain_text("Tess Technical found that the claims go beyond the declared evaluation phase")
    expect(tasks).to_contain_text(OVERCLAIM_NOTE)
    expect(tasks.get_by_role("link", name="Disclosure audit")).to_be_visible()
    shot("tasks")

    # The must-change item: its answer page, with the reviewer's comment.
    tasks.get_by_role("link", name=f"Revise {MUST_CHANGE}").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/checklist/{MUST_CHANGE}/$"))
    expect(page.locator("#reviewer-comments")).to_contain_text(COMMENT)

    # The failing audit: its result page.
    page.go_back()
    tasks.get_by_role("link", name="Disclosure audit").click()
    expect(page).to_have_url(re.compile(r"/audits/runs/\d+/disclosure/$"))
    expect(page.get_by_role("heading", name=re.compile("Disclosure"))).to_be_visible()

    # The overclaim finding also shows on the round page and on the claim items' pages.
    page.go_back()
    tasks.get_by_role("link", name="round 1").click()
    expect(page.locator("section#overclaim")).to_contain_text(OVERCLAIM_NOTE)
    page.goto(f"/projects/{project.pk}/checklist/EV-10/")
    expect(page.locator("#reviewer-comments")).to_contain_text(OVERCLAIM_NOTE)

    # Answering "met" on the item bound to the failing audit nudges, naming the audit.
    page.goto(f"/projects/{project.pk}/checklist/{disclosure_item.code}/")
    nudge = page.locator("[data-met-nudge]")
    expect(nudge).to_be_visible()  # the saved answer is "met"
    page.get_by_label("Not met").check()
    expect(nudge).to_be_hidden()
    page.get_by_label("Met", exact=True).check()
    expect(nudge).to_be_visible()
    expect(nudge.get_by_role("link", name="Disclosure audit")).to_have_attribute(
        "href", re.compile(r"/audits/runs/\d+/disclosure/$")
    )
    shot("met-nudge")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/projects/{project.pk}/")
    shot("tasks-390")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert browser_errors == []
