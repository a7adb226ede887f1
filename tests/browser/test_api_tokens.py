"""Personal API tokens in chromium: create one, copy it from the page, use it from a script,
revoke it, and the script is refused; the board's list of every token. At 1280 and 390 px."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from api.models import ApiToken
from api.services.tokens import token_create, token_revoke
from tests.factories import PASSWORD, AdminFactory, ResearcherFactory, ReviewerFactory

pytestmark = pytest.mark.browser

PHONE = 390


def _log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)


def _both_widths(page: Page, shot: Callable[[str], Path], name: str) -> None:
    """Screenshots at desktop and phone width; no sideways scrolling on the phone."""
    for width, height, label in ((1280, 900, "desktop"), (PHONE, 844, "phone")):
        page.set_viewport_size({"width": width, "height": height})
        shot(f"{name}-{label}")
        if width == PHONE:
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= PHONE, f"the page is {scroll_width} px wide at {PHONE} px"
    page.set_viewport_size({"width": 1280, "height": 900})


def _me(base_url: str, raw: str) -> tuple[int, dict]:
    url = f"{base_url}/api/v1/me/"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {raw}"})  # noqa: S310 (http, the live server)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the test's own live server)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_create_copy_use_and_revoke_a_token(page: Page, context, live_server, shot, browser_errors, db) -> None:
    ResearcherFactory(username="rosa", full_name="Rosa Researcher")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    _log_in(page, "rosa")
    page.goto("/account/tokens/")
    expect(page.locator("#no-tokens")).to_be_visible()

    page.get_by_label("Name").fill("Nightly training pipeline")
    page.get_by_label("Read and write").check()
    page.get_by_label("Expires in").select_option(label="90 days")
    with page.expect_navigation() as created:
        page.get_by_role("button", name="Create token").click()
    # The POST's own response shows the token (no redirect: nothing may store it for a later page),
    # and the page's script has already replaced that history entry with a plain GET of the list.
    assert created.value is not None and created.value.status == 201
    assert created.value.request.method == "POST"
    card = page.locator("#new-token-card")
    expect(card).to_contain_text("Copy it now: it will not be shown again.")
    shown = page.get_by_label("Your new token").inner_text().strip()
    assert shown.startswith("msr_") and len(shown) == 44
    _both_widths(page, shot, "tokens-new-token")

    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-token")).to_contain_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown

    status, me = _me(live_server.url, copied)
    assert status == 200
    assert me["username"] == "rosa" and me["token"]["name"] == "Nightly training pipeline"
    assert me["token"]["scope"] == "write"

    # A reload is a GET of the list, not the POST again: it shows the token no more and creates
    # no second one; the list shows the token's use.
    assert page.url == f"{live_server.url}/account/tokens/"
    reloaded = page.reload()
    assert reloaded is not None and reloaded.request.method == "GET" and reloaded.status == 200
    expect(page.locator("#new-token-card")).to_have_count(0)
    expect(page.locator("#token-table tbody tr")).to_have_count(1)
    assert ApiToken.objects.filter(user__username="rosa").count() == 1
    assert shown not in page.content()
    row = page.locator("#token-table tbody tr", has_text="Nightly training pipeline")
    expect(row).to_contain_text(f"{shown[:12]}…")
    expect(row).to_contain_text("127.0.0.1")
    expect(row).to_contain_text("Active")
    _both_widths(page, shot, "tokens-list")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("alert")).to_contain_text("is revoked: it no longer works")
    expect(row).to_contain_text("Revoked")
    expect(row).to_contain_text("by Rosa Researcher")

    status, refused = _me(live_server.url, copied)
    assert status == 401 and refused["detail"] == "This token was revoked."
    assert browser_errors == []


def test_the_board_lists_and_revokes_every_token(page: Page, live_server, shot, browser_errors, db) -> None:
    AdminFactory(username="ada", full_name="Ada Admin")
    owners = [
        ResearcherFactory(full_name="Rosa Researcher"),
        ResearcherFactory(full_name="Quentin Quill"),
        ReviewerFactory(full_name="Rita Reviewer"),
    ]
    now = timezone.now()
    for n, name in enumerate(["Training pipeline", "Journal check", "Registry mirror", "Laptop notebook", "CI"]):
        token, _ = token_create(
            user=owners[n % 3], name=name, scope="write" if n % 2 else "read", expires_at=now + timedelta(days=7 + n)
        )
        if n == 3:
            token_revoke(actor=owners[n % 3], token=token)
    _log_in(page, "ada")
    page.goto("/board/tokens/")
    expect(page.locator("#shown-count")).to_contain_text("5 of 5 tokens shown")
    _both_widths(page, shot, "board-tokens")

    page.get_by_label("Status").select_option("active")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#shown-count")).to_contain_text("3 of 5 tokens shown")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#token-table tbody tr", has_text="Registry mirror").get_by_role("button", name="Revoke").click()
    # Back on the same filtered list, which no longer holds the revoked token.
    assert "status=active" in page.url and "scope=read" in page.url
    expect(page.get_by_role("alert")).to_contain_text("“Registry mirror”")
    expect(page.locator("#shown-count")).to_contain_text("2 of 5 tokens shown")
    expect(page.locator("#token-table")).not_to_contain_text("Registry mirror")
    assert browser_errors == []
