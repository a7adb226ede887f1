"""The API's documentation page as a pipeline's author reads it: Swagger UI renders every
operation from our own static files under the strict Content-Security-Policy (no violation in
the console), "Authorize" takes a personal token, and "Try it out" sends it."""

from __future__ import annotations

import pytest
import yaml
from playwright.sync_api import Page, expect

from api.enums import TokenScope
from tests.api.client import make_token
from tests.factories import ResearcherFactory

pytestmark = pytest.mark.browser


def test_the_docs_page_lists_the_operations_and_tries_one_with_a_token(
    page: Page, shot, browser_errors, live_server, client
) -> None:
    operations = yaml.safe_load(client.get("/api/v1/schema/").content)["paths"]
    user = ResearcherFactory(full_name="Pia Pipeline")
    _, raw = make_token(user, scope=TokenScope.READ)
    csp_reports: list[str] = []
    page.on("console", lambda m: csp_reports.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto("/api/v1/docs/")
    expect(page.get_by_role("heading", name="API documentation")).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    # Every path of the schema is on the page, each under its tag.
    for path in operations:
        expect(page.locator(f'.opblock-summary-path[data-path="{path}"]').first).to_be_attached()
    shot("operations")

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")  # Swagger UI's modal has no dialog role
    expect(dialog).to_contain_text("(http, Bearer)")
    expect(dialog).to_contain_text("/account/tokens/")
    dialog.get_by_role("textbox").fill(raw)
    dialog.get_by_role("button", name="Apply credentials").click()  # the "Authorize" button's label
    expect(dialog.locator("button", has_text="Logout")).to_be_visible()
    shot("authorized")
    dialog.get_by_role("button", name="Close", exact=True).click()

    me = page.locator("#operations-account-me_retrieve")
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    expect(me.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    expect(me.locator(".live-responses-table")).to_contain_text("Pia Pipeline")
    shot("tried-me-with-the-token")

    assert csp_reports == []
    assert browser_errors == []
