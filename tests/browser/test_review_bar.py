"""The review page's action bar (Save draft, Submit review) never hides what the reviewer reads
or types: on a wide window it floats at the bottom and keyboard focus stops above it; on a
phone or a short window it stays after the last item. Scrolled to the bottom, the last
checklist row and the footer are clear of it at every size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_review_path import log_in
from tests.factories import ProjectFactory
from tests.workflow import reviewers_on, submitted

pytestmark = pytest.mark.browser

# The full-page shots (`shot`) lay the bar in place; these show the window as the reviewer sees it.
WINDOW_SHOTS = os.environ.get("REVIEW_BAR_SHOTS", "")


def window_shot(page: Page, name: str) -> None:
    if WINDOW_SHOTS:
        Path(WINDOW_SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(WINDOW_SHOTS) / f"{name}.png"))


BOX = "(e) => { const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; }"
# The control that has the focus as the reviewer sees it: a verdict's radio is drawn by its label.
FOCUSED = """() => {
  const e = document.activeElement;
  return e.classList.contains("btn-check") ? document.querySelector(`label[for="${e.id}"]`) : e;
}"""


def box(page: Page, selector: str) -> dict[str, float]:
    return page.locator(selector).first.evaluate(BOX)


def open_review(page: Page, catalogue, researcher, admin_user) -> None:  # type: ignore[no-untyped-def]
    project = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Synthetic knee MRI")
    submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    # Bootstrap scrolls smoothly otherwise: each position would be read mid-scroll.
    page.emulate_media(reduced_motion="reduce")
    log_in(page, technical)
    page.goto(f"/projects/{project.pk}/rounds/1/review/")
    expect(page.get_by_role("heading", name="Review of round 1")).to_be_visible()


def bottom_is_clear(page: Page, height: int) -> None:
    page.evaluate("window.scrollTo(0, document.scrollingElement.scrollHeight)")
    page.wait_for_function("window.scrollY + window.innerHeight >= document.scrollingElement.scrollHeight - 1")
    bar = box(page, ".review-actions")
    last_row = box(page, "#review-form section.card:last-of-type li.list-group-item:last-child")
    footer = box(page, "footer")
    assert last_row["bottom"] <= bar["top"], (last_row, bar)
    assert bar["bottom"] <= footer["top"] <= footer["bottom"] <= height + 1, (bar, footer)
    expect(page.get_by_role("button", name="Submit review")).to_be_visible()


@pytest.mark.parametrize("width,height", [(1280, 800), (1024, 768)], ids=["1280x800", "1024x768"])
def test_on_a_wide_window_the_bar_floats_and_focus_stops_above_it(
    page: Page, shot, browser_errors, catalogue, researcher, admin_user, width, height
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_review(page, catalogue, researcher, admin_user)
    page.get_by_label("Comment on PF-1", exact=True).focus()
    page.evaluate("window.scrollTo(0, window.scrollY + 200)")
    # Tabbing down the checklist: the bar floats at the window's bottom, and every control
    # that takes the focus is scrolled clear above it, never left underneath.
    for _ in range(30):
        page.keyboard.press("Tab")
        bar = box(page, ".review-actions")
        assert bar["bottom"] == pytest.approx(height, abs=1), "the bar does not float at the bottom"
        focused = page.evaluate_handle(FOCUSED).evaluate(BOX)
        name = page.evaluate("document.activeElement.id || document.activeElement.name")
        assert focused["bottom"] <= bar["top"], f"{name} has the focus under the action bar: {focused} {bar}"
    shot("tabbing")
    window_shot(page, f"review-tabbing-{width}x{height}")
    bottom_is_clear(page, height)
    window_shot(page, f"review-bottom-{width}x{height}")
    assert not browser_errors, browser_errors


@pytest.mark.parametrize(
    "size", [{"width": 390, "height": 844}, {"width": 844, "height": 390}], ids=["phone", "phone-landscape"]
)
def test_on_a_phone_the_bar_stays_after_the_last_item(
    page: Page, shot, browser_errors, catalogue, researcher, admin_user, size
) -> None:
    page.set_viewport_size(size)
    open_review(page, catalogue, researcher, admin_user)
    # Reading the middle of the checklist: the bar (a third of a phone's height) covers nothing.
    page.get_by_label("Comment on PF-1", exact=True).focus()
    assert box(page, ".review-actions")["top"] >= size["height"], "the action bar covers the checklist"
    window_shot(page, f"review-reading-{size['width']}x{size['height']}")
    bottom_is_clear(page, size["height"])
    shot("bottom")
    window_shot(page, f"review-bottom-{size['width']}x{size['height']}")
    assert not browser_errors, browser_errors
