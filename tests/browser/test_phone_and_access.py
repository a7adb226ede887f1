"""Site-wide behaviour in chromium: a changed form warns before its input is lost, the skip
link, the refusal pages, the account pages, and no sideways scrolling at 390 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, AdminFactory

pytestmark = pytest.mark.browser


def _log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)


def test_a_changed_form_warns_before_its_input_is_lost_until_it_is_submitted(page: Page, shot, browser_errors, db):
    AdminFactory(username="ada")
    _log_in(page, "ada")
    warnings: list[str] = []

    def stay(dialog) -> None:  # "Leave site?" answered "Cancel": the input stays
        warnings.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)

    # Untouched: leaving asks nothing.
    page.goto("/staff/users/new/")
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(page.url.split("/staff/")[0] + "/staff/users/")
    assert warnings == []

    # Typed into: leaving asks, and answering "stay" keeps what was typed.
    page.goto("/staff/users/new/")
    page.get_by_label("Full name").fill("Rui Reviewer")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_label("Full name")).to_have_value("Rui Reviewer")
    assert warnings == ["beforeunload"]
    shot("warned-and-stayed")

    # Typed back to what it was: nothing to lose, nothing asked.
    page.get_by_label("Full name").fill("")
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(page.url.split("/staff/")[0] + "/staff/users/")
    assert warnings == ["beforeunload"]

    # Submitted: the page the server answers with comes without a question; a form it sends
    # back refused still holds unsaved input, so leaving that one asks again.
    page.goto("/staff/users/new/")
    page.get_by_label("Full name").fill("Rui Reviewer")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".is-invalid").first).to_be_visible()
    assert warnings == ["beforeunload"]
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_label("Full name")).to_have_value("Rui Reviewer")
    assert warnings == ["beforeunload", "beforeunload"]
    assert browser_errors == []
