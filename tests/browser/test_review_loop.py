"""The reviewer's side of the loop in a real browser (issue 10, point 8).

- A waiver keeps the verdicts: a reviewer types verdicts and a comment, waives an audit at
  once, reloads: everything typed is still there (drafts are kept on the server).
- The second reviewer is told: reviewer 1 requests changes on the sign page; the invited
  reviewer's home, invitation and notifications say the round closed and nothing is asked of
  them; the accepted reviewer's review page says who closed it and that nothing more is needed.
- Carry-forward marks a changed item: round 2 after the researcher changed one answer starts
  from the reviewer's round-1 verdicts, the changed item marked and undecided; "mark all
  acceptable" asks first, counting only unchanged items, and leaves the changed one alone.

Each scenario also saves its pages at desktop and phone width under the usual
test-artifacts/browser/<test>/ (copied to $REVIEW_LOOP_SHOTS when set) for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from reviews.enums import AnswerStatus, AssignmentStatus, ExpertiseKind, Meaning, Verdict
from reviews.models import Assignment, GuidelineItem, Notification, Project
from reviews.models.review import ReviewDraft
from reviews.services.assignments import assignment_create
from reviews.services.projects import answer_save, project_submit
from tests.browser.test_review_path import accept_dialogs, field, log_in, log_out
from tests.factories import PASSWORD, ProjectFactory, ReviewerFactory
from tests.workflow import review, reviewers_on, sign, submitted

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("REVIEW_LOOP_SHOTS", "")  # a folder to copy the screenshots into
COMMENT = "The README still calls the images 'knee MRI scans'; say 'synthetic' everywhere."
CHANGED = "DS-1"


def both_widths(page: Page, shot: Callable[[str], Path], name: str) -> None:
    """Save the page at desktop width and at 390 px."""
    for width, suffix in ((1280, "desktop"), (390, "phone")):
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
        saved = shot(f"{name}-{suffix}")
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            shutil.copy(saved, Path(SHOTS) / saved.name)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def world(catalogue, researcher, admin_user):  # type: ignore[no-untyped-def]
    project = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Synthetic knee MRI")
    round1 = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    return project, round1, technical, clinical


def test_waiver_keeps_verdicts(page: Page, shot, browser_errors, world):  # type: ignore[no-untyped-def]
    project, _round1, technical, _clinical = world
    log_in(page, technical)
    page.get_by_role("link", name="My reviews").click()
    page.get_by_role("link", name=re.compile(r"^Open review")).click()
    expect(page.get_by_role("heading", name="Review of round 1")).to_be_visible()
    row = page.locator("#item-PF-1")
    row.locator("label", has_text="Must change").click()
    page.get_by_label("Comment on PF-1", exact=True).fill(COMMENT)
    page.locator("#item-PF-2").locator("label", has_text="Acceptable").click()
    # At once, before any autosave could run: the waiver carries what was typed.
    page.locator("#waive-privacy summary").click()
    page.locator("#waive-privacy").get_by_label(re.compile("Reason for accepting this result")).fill(
        "No image set in this round; judged on the written evidence."
    )
    page.locator("#waive-privacy").get_by_role("button", name="Waive Privacy").click()
    expect(page.get_by_role("alert").first).to_contain_text("waived for round 1, with your reason")

    page.reload()
    expect(page.locator("#item-PF-1").get_by_role("radio", name="Must change")).to_be_checked()
    expect(page.get_by_label("Comment on PF-1", exact=True)).to_have_value(COMMENT)
    expect(page.locator("#item-PF-2").get_by_role("radio", name="Acceptable")).to_be_checked()
    assert ReviewDraft.objects.get(reviewer=technical).data["comment_PF-1"] == COMMENT

    # Autosave: a change, then a second tab sees it without any button pressed.
    page.locator("#item-PF-3").locator("label", has_text="Concern").click()
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    second = page.context.new_page()
    second.goto(page.url)
    expect(second.locator("#item-PF-3").get_by_role("radio", name="Concern")).to_be_checked()
    expect(second.get_by_label("Comment on PF-1", exact=True)).to_have_value(COMMENT)
    second.close()
    both_widths(page, shot, "review-draft-after-waiver")
    assert browser_errors == []
    assert project.pk


def test_second_reviewer_told(page: Page, shot, browser_errors, world, admin_user):  # type: ignore[no-untyped-def]
    project, round1, technical, clinical = world
    invited = ReviewerFactory(username="ivy", full_name="Ivy Invited", expertise=ExpertiseKind.ETHICS)
    assignment_create(actor=admin_user, project=project, reviewer=invited)
    review(round1, technical, verdict=Verdict.MUST_CHANGE)

    # Before: the invited reviewer's home page lists the invitation.
    log_in(page, invited)
    invitations = page.get_by_role("region", name=re.compile("Review invitations waiting for your answer"))
    expect(invitations.get_by_role("link", name=project.title, exact=True)).to_be_visible()
    expect(invitations.get_by_role("link", name=re.compile("^Accept or decline"))).to_be_visible()
    both_widths(page, shot, "home-invitation")
    log_out(page, invited)

    # Reviewer 1 requests changes on the sign page, typing a wrong password first.
    log_in(page, technical)
    page.goto(f"/projects/{project.pk}/rounds/1/sign/")
    page.get_by_label("Request changes", exact=True).check()
    field(page, "Statement").fill("Say 'synthetic' everywhere.")
    field(page, "Your password").fill("not my password")
    page.get_by_role("button", name=re.compile(r"^Sign as ")).click()
    alert = page.locator("#error_1_id_password")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("The password is not correct. Nothing was signed.")
    expect(field(page, "Your password")).to_have_attribute("aria-invalid", "true")
    both_widths(page, shot, "sign-wrong-password")
    field(page, "Your password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile(r"^Sign as ")).click()
    expect(page.get_by_role("alert").first).to_contain_text("Signed “Request changes” on round 1")
    log_out(page, technical)

    # The invited reviewer: nothing to answer any more, and told why.
    log_in(page, invited)
    expect(page.get_by_text("Review invitations waiting for your answer")).to_have_count(0)
    page.goto(f"/projects/{project.pk}/invitation/")
    expect(page.locator("#response")).to_contain_text("Invitation withdrawn.")
    expect(page.locator("#response")).to_contain_text("Round 1 closed before you answered: Tess Technical requested")
    expect(page.get_by_role("button", name="Accept the review")).to_have_count(0)
    expect(page.get_by_text("Accept or decline")).to_have_count(0)
    both_widths(page, shot, "invitation-withdrawn")
    page.locator("#nav-notifications").click()
    expect(page.get_by_text(f"Review invitation withdrawn: {project.title}")).to_be_visible()
    log_out(page, invited)
    assert Assignment.objects.get(project=project, reviewer=invited).status == AssignmentStatus.REMOVED

    # The accepted reviewer: told, and the review page says the round closed and by whom.
    log_in(page, clinical)
    page.locator("#nav-notifications").click()
    page.get_by_role("button", name=re.compile(r"round 1 closed by Tess Technical's change request")).click()
    expect(page.get_by_role("heading", name="Review of round 1")).to_be_visible()
    closed = page.locator(".round-closed")
    expect(closed).to_contain_text("Round 1 is closed: Tess Technical requested changes")
    expect(closed).to_contain_text("Nothing more is needed from you on this round")
    expect(page.get_by_text("stay private until you submit")).to_have_count(0)
    both_widths(page, shot, "review-closed-by-request")
    assert Notification.objects.filter(recipient=clinical, key__startswith="round-closed:").count() == 1
    assert browser_errors == []


def test_carry_forward_marks_a_changed_item(page: Page, shot, browser_errors, world):  # type: ignore[no-untyped-def]
    project, round1, technical, _clinical = world
    review(round1, technical)
    sign(round1, technical, Meaning.REQUEST_CHANGES, "Say 'synthetic' everywhere.")
    answer_save(
        actor=project.owner,
        project=project,
        item=GuidelineItem.objects.get(version=project.guideline_version_id, code=CHANGED),
        status=AnswerStatus.MET,
        justification="",
        evidence_text="Every caption and file name now says 'synthetic knee MRI'.",
    )
    project_submit(actor=project.owner, project=Project.objects.get(pk=project.pk))
    dialogs = accept_dialogs(page)

    log_in(page, technical)
    page.get_by_role("link", name="My reviews").click()
    both_widths(page, shot, "my-reviews-round-2")
    page.get_by_role("link", name=re.compile(r"^Open review")).click()
    expect(page.get_by_role("heading", name="Review of round 2")).to_be_visible()
    expect(page.locator(".carry-forward")).to_contain_text("1 item changed since round 1")
    changed = page.locator(f"#item-{CHANGED}")
    expect(changed).to_contain_text("Changed since round 1")
    expect(changed).to_contain_text("evidence text edited")
    expect(changed.get_by_role("radio", name="Undecided")).to_be_checked()
    expect(page.get_by_role("radio", name="Acceptable", checked=True)).to_have_count(44)
    both_widths(page, shot, "review-round-2-carried")
    page.set_viewport_size({"width": 390, "height": 844})
    changed.scroll_into_view_if_needed()
    box = changed.bounding_box()
    assert box is not None and box["width"] <= 390  # the marked item fits a phone
    page.set_viewport_size({"width": 1280, "height": 900})

    # One unchanged item back to undecided: the shortcut counts it, and only it.
    page.locator("#item-PF-1").locator("label", has_text="Undecided").click()
    page.get_by_role("button", name="Mark all undecided items acceptable").click()
    expect(page.get_by_role("alert").first).to_contain_text(
        "Undecided items marked acceptable; draft saved. 1 item marked."
    )
    assert dialogs[-1].startswith("Mark 1 undecided item acceptable"), dialogs
    assert "1 undecided item changed since the round before stays undecided" in dialogs[-1]
    expect(page.locator(f"#item-{CHANGED}").get_by_role("radio", name="Undecided")).to_be_checked()
    expect(page.locator("#item-PF-1").get_by_role("radio", name="Acceptable")).to_be_checked()
    assert browser_errors == []
