"""Browser fixtures: Debian's chromium driven by Playwright's sync API against live_server.

One chromium serves all browser tests of a session (a launch costs about a second); each
test gets a fresh context (cookies, storage) and page. Every test gets a `shot` helper that
saves numbered, full-page screenshots under test-artifacts/browser/<test name>/ for a human
to look at.

Playwright's sync API keeps an asyncio loop marked as running in this thread from its start
to its stop, and Django then refuses ORM calls ("You cannot call this from an async
context"). DJANGO_ALLOW_ASYNC_UNSAFE lifts that, but it must not outlive Playwright: other
tests start subprocesses (`manage.py check --deploy`, workers) that inherit os.environ, and
Django's deployment check rejects the variable. So chromium is started with the variable set
and stopped, the variable removed, as soon as the last browser test of a run is over.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
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


class _Chromium:
    """The one Playwright driver and chromium of a session, started on first use."""

    def __init__(self) -> None:
        self._driver: Any = None
        self._browser: Any = None
        self._env_before: str | None = None

    @property
    def running(self) -> bool:
        return self._driver is not None

    def get(self) -> Any:
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._env_before = os.environ.get(ASYNC_UNSAFE)
            os.environ[ASYNC_UNSAFE] = "true"
            try:
                self._driver = sync_playwright().start()
                self._browser = self._driver.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
            except BaseException:
                self.stop()
                raise
        return self._browser

    def stop(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
            if self._driver is not None:
                self._driver.stop()
        finally:
            self._browser = self._driver = None
            if self._env_before is None:
                os.environ.pop(ASYNC_UNSAFE, None)
            else:
                os.environ[ASYNC_UNSAFE] = self._env_before


_CHROMIUM = _Chromium()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the function fixtures (context, page, live_server data) are gone: stop chromium
    when the next test is not a browser test, so the async-unsafe switch ends with it."""
    try:
        return (yield)
    finally:
        if _CHROMIUM.running and (nextitem is None or nextitem.get_closest_marker("browser") is None):
            _CHROMIUM.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[_Chromium]:
    # The same rule as the `browser` marker in tests/conftest.py (skip on a laptop, fail in
    # CI), checked here too because this fixture is set up before the marker's check.
    require(Path(CHROMIUM).exists() and shutil.which("chromium") is not None, "Debian's chromium is not installed")
    yield _CHROMIUM
    _CHROMIUM.stop()


@pytest.fixture
def browser(chromium: _Chromium) -> Any:
    """The session's chromium: launched by the first browser test, shared by the rest."""
    return chromium.get()


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
