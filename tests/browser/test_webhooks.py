"""A researcher registers a webhook, sends the test event and reads the attempt in the log,
with a real worker delivering it to a receiver on localhost that verifies the signature."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory
from tests.webhooks.receiver import running_receiver
from webhooks.models import Webhook

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE = {"width": 390, "height": 844}


def _no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"))


def test_register_a_hook_send_the_test_event_and_read_the_attempt(
    page: Page, context, live_server, shot, browser_errors, start_worker, catalogue
):
    start_worker()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    owner = ResearcherFactory(username="rosa", full_name="Rosa Researcher")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic knee CT for segmentation")
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    with running_receiver() as receiver:
        page.goto("/webhooks/")
        expect(page.get_by_text("No webhooks yet.")).to_be_visible()
        page.get_by_role("link", name="New webhook").click()
        page.get_by_role("combobox", name="Project").select_option(label=project.title)
        page.get_by_label("Payload URL").fill(receiver.url)
        # No event ticked: the summary names the one field, Events, not each of its boxes.
        page.get_by_role("button", name="Register webhook").click()
        summary = page.get_by_role("alert").filter(has_text="your attention")
        expect(summary).to_contain_text("One field needs your attention:")
        expect(summary.get_by_role("listitem")).to_have_count(1)
        expect(summary.get_by_role("link", name="Events")).to_be_visible()
        expect(page.get_by_text("Choose at least one event.")).to_be_visible()
        shot("new-webhook-no-events")
        page.get_by_role("checkbox", name=re.compile(r"^Project submitted")).check()
        page.get_by_role("checkbox", name=re.compile(r"^Audit run finished")).check()
        expect(page.get_by_role("checkbox", name=re.compile(r"objection"))).to_have_count(0)  # admins only
        shot("new-webhook")
        page.get_by_role("button", name="Register webhook").click()

        hook = Webhook.objects.get()
        receiver.secret = hook.secret
        expect(page.get_by_role("heading", name=f"Webhook #{hook.pk}")).to_be_visible()
        page.get_by_text("Reveal the secret").click()
        expect(page.get_by_label("Secret")).to_have_value(hook.secret)
        expect(page.get_by_text("see docs/webhooks.md")).to_have_count(0)
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == hook.secret
        shot("secret-copied")

        page.get_by_role("button", name="Send test event").click()
        expect(page.get_by_text("Test event queued: its delivery appears in the log below within")).to_be_visible()
        shot("test-event-queued")
        # The page refreshes the log once by itself (the one-time message is then gone) and not again.
        expect(page.get_by_text("Test event queued")).to_have_count(0, timeout=15_000)
        assert "sent=" not in page.url
        receiver.wait_for(1)
        deadline = time.monotonic() + 30
        while not page.get_by_text("HTTP 200").count() and time.monotonic() < deadline:
            time.sleep(0.3)
            page.reload()
    expect(page.get_by_text("HTTP 200")).to_be_visible()
    assert [r.verified for r in receiver.received] == [True]
    delivery = page.locator(".list-group-item").first
    expect(delivery).to_contain_text("Delivered")
    expect(delivery).to_contain_text("ping")
    expect(delivery).to_contain_text("1 attempt")
    shot("delivered")

    page.set_viewport_size(PHONE)
    assert _no_sideways_scroll(page), "the hook's page scrolls sideways at 390 px"
    shot("delivered-390")
    page.goto("/webhooks/")
    expect(page.get_by_role("link", name=receiver.url)).to_be_visible()
    expect(page.get_by_role("link", name="REST API")).to_have_attribute("href", "/api/v1/docs/")
    shot("list-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    shot("list")
    assert not browser_errors, browser_errors
