"""Browser fixtures: Debian's chromium driven by Playwright's sync API against live_server.

One chromium per session (a launch costs about a second); a fresh context (cookies,
storage) and page per test. Every test gets a `shot` helper that saves numbered,
full-page screenshots under test-artifacts/browser/<test name>/ for a human to look at.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import require

# Playwright's sync API runs an asyncio loop in this thread, which makes Django refuse ORM
# calls from the test body ("You cannot call this from an async context"). The test code
# is plain synchronous code, so this is safe here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
DEFAULT_TIMEOUT_MS = 10_000
# Expected failures (the 400 of a refused submission, the 403 of a read-only page) show up
# as console errors too; bad responses are tracked separately in `browser_errors`.
_RESOURCE_ERROR = re.compile(r"^Failed to load resource: the server responded with a status of \d+")


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[object]:
    # The same rule as the `browser` marker in tests/conftest.py (skip on a laptop, fail in
    # CI), applied here because this session fixture is set up before the marker's check.
    require(Path(CHROMIUM).exists() and shutil.which("chromium") is not None, "Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver):
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        timezone_id="UTC",
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    yield page
    page.close()


@pytest.fixture
def browser_errors(page) -> list[str]:
    """JavaScript exceptions, console errors (CSP violations among them) and failed sub-resources.

    A test asserts this list is empty at the end. Bad *document* responses are left to the
    test, which expects some of them (400 on a refused form, 403 on a read-only page).
    """
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

    def on_console(message) -> None:
        if message.type == "error" and not _RESOURCE_ERROR.match(message.text):
            errors.append(f"console: {message.text}")

    def on_response(response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} for {response.request.resource_type} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    return errors


@pytest.fixture
def shot(page, request) -> Callable[[str], Path]:
    """shot("checklist") saves test-artifacts/browser/<test>/NN-checklist.png (full page)."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 1000))

    def save(name: str) -> Path:
        path = folder / f"{next(counter):02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
