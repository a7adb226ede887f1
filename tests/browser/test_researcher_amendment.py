"""Opening an amendment in the browser: confirmation, a required reason, the approval still shown."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from reviews.enums import Action, ProjectStatus
from reviews.models import ActivityEntry, Project, RoundOutcome
from tests.factories import PASSWORD, AdminFactory, ProjectFactory, ResearcherFactory
from tests.workflow import reviewers_on, submitted

pytestmark = pytest.mark.browser

REASON = "A second hospital joins the study; its scans are added to the training set."


def test_an_amendment_asks_why_and_keeps_the_approval_in_view(page: Page, shot, browser_errors, catalogue) -> None:
    owner = ResearcherFactory(username="amal")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic fundus photographs")
    round_ = submitted(project)
    admin = AdminFactory()
    reviewers_on(project, admin=admin)
    RoundOutcome.objects.create(round=round_, outcome="approved", decided_at=timezone.now(), decided_by=admin)
    Project.objects.filter(pk=project.pk).update(status=ProjectStatus.APPROVED)
    dialogs: list[str] = []

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/projects/{project.pk}/")
    button = page.get_by_role("button", name="Open an amendment")

    # Cancelling the confirmation sends nothing.
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_label("Why amend the approved project?").fill(REASON)
    button.click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/$"))
    assert dialogs == ["Open an amendment? The checklist reopens and the project will need a new review."]
    assert Project.objects.get(pk=project.pk).status == ProjectStatus.APPROVED

    # Without a reason the page says what is missing; nothing changes.
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Why amend the approved project?").fill("")
    button.click()
    expect(page.get_by_text("Say why the project is amended.")).to_be_visible()
    assert Project.objects.get(pk=project.pk).status == ProjectStatus.APPROVED
    shot("reason-required")

    page.get_by_label("Why amend the approved project?").fill(REASON)
    page.get_by_role("button", name="Open an amendment").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/checklist/$"))
    assert ActivityEntry.objects.get(action=Action.AMEND).new["reason"] == REASON

    page.goto(f"/projects/{project.pk}/")
    expect(page.locator(".standing-approval")).to_contain_text("Approved on")
    expect(page.locator(".standing-approval").get_by_role("link", name="round 1")).to_be_visible()
    shot("amendment-open")
    page.goto(f"/projects/{project.pk}/history/")
    expect(page.get_by_text(REASON)).to_be_visible()
    assert browser_errors == []
