"""An objection followed from the register to its outcome, in a real browser: an anonymous
visitor objects from a register entry and keeps the tracking link; an administrator
acknowledges it and asks the researcher; the researcher responds; the administrator publishes
the response and upholds the objection with a suspension; the tracking page and the register
entry show the decision and the suspension; the administrator reinstates the approval from the
project page, and the feed says so without the board's internal reason. Each step at desktop
width and at 390 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from public.models import Objection
from tests.factories import PASSWORD, AdminFactory, ResearcherFactory
from tests.public.test_objections import listed_approved

pytestmark = pytest.mark.browser

OBJECTION = "The register says the images are labelled, but the downloads carry no synthetic marker."
RESPONSE = "Every file carries the DICOM tag and a visible watermark since release 2."
REINSTATED = "The board checked release 3: every file is marked."
REASON = "The released files checked by the board carry no marker: the approval is suspended until they do."


def _log_in(page: Page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)


def _fits_390(page: Page, shot, name: str) -> None:
    """The same page at 390 px: nothing scrolls sideways."""
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} scrolls sideways at 390 px by {overflow} px"
    shot(f"{name}-390")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_objection_from_the_register_to_upheld_with_suspension(page: Page, shot, browser_errors, catalogue) -> None:
    owner = ResearcherFactory(username="rhea", full_name="Rhea Researcher")
    admin = AdminFactory(username="ada", full_name="Ada Admin")
    project = listed_approved(owner, catalogue, title="Synthetic knee MRI for triage", admin=admin)
    page.on("dialog", lambda dialog: dialog.accept())

    # An anonymous visitor objects from the register entry.
    page.goto(f"/register/{project.pk}/")
    page.get_by_role("link", name="Ask a question or object").click()
    expect(page.get_by_role("heading", name="Ask a question or object")).to_be_visible()
    page.get_by_role("radio", name="Objection").check()
    page.get_by_label("Your question or objection").fill(OBJECTION)
    page.get_by_label("Your email (optional)").fill("sam@example.org")
    expect(page.get_by_label("Leave this field empty")).to_be_hidden()
    shot("form")
    _fits_390(page, shot, "form")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Your message is sent")).to_be_visible()
    tracking = page.locator("#tracking-link a").get_attribute("href")
    assert tracking and re.search(r"/register/objections/[A-Za-z0-9_-]{43}/$", tracking)
    shot("sent")
    _fits_390(page, shot, "sent")
    page.goto(tracking)
    expect(page.locator("#objection-status")).to_contain_text("Received")
    objection = Objection.objects.get()

    # The administrator acknowledges it and asks the researcher.
    _log_in(page, "ada")
    page.goto("/board/objections/")
    expect(page.locator("#objection-table")).to_contain_text("Synthetic knee MRI for triage")
    shot("triage-list")
    _fits_390(page, shot, "triage-list")
    page.get_by_role("link", name=f"Objection #{objection.pk}").click()
    expect(page.get_by_text("sam@example.org")).to_be_visible()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("alert").filter(has_text="Acknowledged")).to_be_visible()
    page.get_by_role("button", name="Ask the researcher to respond").click()
    expect(page.get_by_role("alert").filter(has_text="The researcher is asked to respond")).to_be_visible()
    shot("asked")

    # The researcher follows the notification and responds; the sender stays unknown to them.
    _log_in(page, "rhea")
    page.goto("/notifications/")
    page.get_by_role("button", name=re.compile("The board asks you to respond")).click()
    expect(page.get_by_text(OBJECTION)).to_be_visible()
    expect(page.get_by_text("sam@example.org")).to_have_count(0)
    page.get_by_label("Your response").fill(RESPONSE)
    page.get_by_role("button", name="Send to the board").click()
    expect(page.get_by_text("Waiting for the board to publish it")).to_be_visible()
    shot("responded")
    _fits_390(page, shot, "responded")

    # The administrator publishes the text and the response, and upholds with a suspension.
    _log_in(page, "ada")
    page.goto(f"/board/objections/{objection.pk}/")
    page.get_by_role("button", name="Show the text on the register").click()
    page.get_by_role("button", name="Publish this response").click()
    expect(page.locator(".response").filter(has_text=RESPONSE)).to_contain_text("Published")
    page.get_by_role("radio", name="The approval is suspended").check()
    page.get_by_label("Why it is upheld").fill(REASON)
    page.get_by_role("button", name="Uphold").click()
    expect(page.locator("#decision")).to_contain_text("Upheld")
    expect(page.get_by_role("heading", name="The approval is suspended")).to_be_visible()
    shot("upheld")
    _fits_390(page, shot, "upheld")

    # The sender's tracking page and the register entry show the decision and the suspension.
    page.context.clear_cookies()
    page.goto(tracking)
    expect(page.locator("#objection-status")).to_contain_text("Upheld")
    expect(page.locator("#decision")).to_contain_text("the approval is suspended")
    expect(page.locator("#decision")).to_contain_text(REASON)
    expect(page.get_by_text(RESPONSE)).to_be_visible()
    shot("tracking-upheld")
    _fits_390(page, shot, "tracking-upheld")
    page.goto(f"/register/{project.pk}/")
    # The visitor saw this entry before the decision, and anonymous register pages may be kept
    # for five minutes (public.views.register): a reload asks the server again, as a person would.
    page.reload()
    expect(page.get_by_text("Approval suspended").first).to_be_visible()
    section = page.locator("#objections")
    expect(section).to_contain_text("Upheld")
    expect(section).to_contain_text(OBJECTION)
    expect(section).to_contain_text(RESPONSE)
    expect(section).not_to_contain_text("sam@example.org")
    shot("register-entry")
    _fits_390(page, shot, "register-entry")

    # The administrator reinstates the approval from the project page; its reason stays in the
    # project's history, not on the register or its feed.
    _log_in(page, "ada")
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_text("Kept in the project's history; not shown on the public register.")).to_be_visible()
    page.get_by_label("Why the approval is reinstated").fill(REINSTATED)
    shot("reinstate")
    _fits_390(page, shot, "reinstate")
    page.get_by_role("button", name="Reinstate", exact=True).click()
    expect(page.get_by_text("The approval is reinstated")).to_be_visible()
    page.context.clear_cookies()
    feed = page.request.get("/register/feed.atom").text()
    assert "Approval reinstated: Synthetic knee MRI for triage" in feed and REINSTATED not in feed
    assert REASON in feed  # the suspension's reason is public
    assert browser_errors == []
