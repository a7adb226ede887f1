"""An admin reads the board dashboard in chromium: the charts are drawn, the filters change the
figures and stay in the URL, a figure's link opens the project list behind it, and at 390 px
nothing scrolls sideways."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Page, expect

from oversight.snapshot import board_snapshot_refresh
from reviews.enums import Outcome, ProjectStatus
from tests.factories import PASSWORD, ProjectFactory, ReviewerFactory
from tests.oversight.worlds import at, decide, decided_world, second_version, small_world, submit

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def tile(page: Page, tile_id: str) -> str:
    return page.locator(f"#{tile_id} .fs-3").inner_text().strip()


def test_an_admin_filters_the_board_and_opens_the_projects_behind_a_figure(
    page: Page, shot, browser_errors, catalogue
) -> None:
    world = small_world(catalogue)
    log_in(page, world.admin.username)
    page.goto("/board/")
    expect(page.get_by_role("heading", name="Board dashboard")).to_be_visible()
    # Every chart is drawn (plotly under the CSP), beside its table.
    for key in ("states", "months", "turnaround", "reviewers", "items", "audits"):
        expect(page.locator(f'[data-chart="chart-{key}"]')).to_have_attribute("data-drawn", "true")
        expect(page.locator(f'[data-chart="chart-{key}"] .main-svg').first).to_be_visible()
    assert tile(page, "tile-projects") == "12"
    assert tile(page, "tile-overdue") == "2"
    turnaround = page.locator("#turnaround-table tbody tr")
    expect(turnaround).to_have_count(2)
    shot("board-desktop")

    # Filter by the second guideline version: every figure narrows to its three projects.
    page.get_by_label("Guideline version").select_option(label=str(world.v2))
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"version={world.v2.pk}"))
    assert tile(page, "tile-projects") == "3"
    assert tile(page, "tile-overdue") == "0"
    expect(turnaround).to_have_count(1)
    expect(turnaround.first).to_contain_text("5.0")
    expect(turnaround.first).to_contain_text("5.8")
    expect(page.get_by_label("Guideline version")).to_have_value(str(world.v2.pk))
    shot("board-version-2")

    # Back to every version, CT only: the nine CT projects, v1's medians.
    page.get_by_label("Guideline version").select_option(label="All versions")
    page.get_by_label("Modality").select_option("CT")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"modality=CT"))
    assert tile(page, "tile-projects") == "9"
    expect(turnaround).to_have_count(1)
    expect(turnaround.first).to_contain_text("25.0")
    expect(turnaround.first).to_contain_text("37.0")
    assert tile(page, "tile-overdue") == "2"
    shot("board-ct")

    # The item most often marked "must change" links to its projects, with the filter kept.
    page.locator("#items-table tbody tr").first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/projects/\?"))
    query = parse_qsl(urlsplit(page.url).query)
    assert query == [("modality", "CT"), ("must_change", "EV-5")]
    expect(page.get_by_role("heading", name=re.compile("projects", re.I)).first).to_be_visible()
    # The two CT projects where a submitted review marked EV-5 "must change", as the board counted.
    expect(page.get_by_role("link", name="changes", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="v1-b", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="v1-a", exact=True)).to_have_count(0)
    shot("project-list-behind-ev-5")

    # A click on a bar of a chart opens the same kind of list (its customdata).
    page.go_back()
    page.locator('[data-chart="chart-states"] .main-svg').first.wait_for()
    # The states run from the last (suspended) at the bottom to draft at the top: plotly draws
    # the bars in that data order.
    approved = list(ProjectStatus)[::-1].index(ProjectStatus.APPROVED)
    bar = page.locator('[data-chart="chart-states"] g.point path').nth(approved)
    bar.click(force=True)
    expect(page).to_have_url(re.compile(r"/projects/\?modality=CT&status=approved$"))
    assert not browser_errors, browser_errors


def test_the_board_at_390_px_has_no_sideways_scroll(page: Page, shot, browser_errors, catalogue) -> None:
    world = small_world(catalogue)
    page.set_viewport_size(PHONE)
    log_in(page, world.admin.username)
    page.goto("/board/?submitted_after=2026-01-01")
    expect(page.locator('[data-chart="chart-states"]')).to_have_attribute("data-drawn", "true")
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), "the board scrolls sideways"
    shot("board-390")
    page.goto("/board/?version=abc")
    expect(page.get_by_role("alert")).to_contain_text("Guideline version: There is no published guideline version")
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shot("board-390-bad-filter")
    assert not browser_errors, browser_errors


def test_a_reviewer_name_with_markup_is_drawn_as_text(page: Page, shot, browser_errors, catalogue) -> None:
    """Plotly renders <a>, <b> and <span style> in tick labels: a name holding them is shown as
    typed, and makes no link, no bold and no style in the chart."""
    world = small_world(catalogue)
    ReviewerFactory(full_name="<a href='/'>Eve</a><b>B</b>")
    log_in(page, world.admin.username)
    page.goto("/board/")
    chart = page.locator('[data-chart="chart-reviewers"]')
    expect(chart).to_have_attribute("data-drawn", "true")
    expect(chart.locator("g.xtick text").filter(has_text="Eve")).to_have_text("<a href='/'>Eve</a><b>B</b>")
    expect(chart.locator("a")).to_have_count(0)
    expect(chart.locator("g.xtick text tspan[style*='bold']")).to_have_count(0)
    chart.scroll_into_view_if_needed()
    shot("reviewer-name-with-markup")
    assert not browser_errors, browser_errors


def test_decisions_on_the_day_of_submission_are_said_and_zero_bars_are_labelled(
    page: Page, shot, browser_errors, catalogue
) -> None:
    """A portfolio decided in the hour: no empty turnaround frame, a sentence saying so. Once a
    version with a real turnaround joins, the chart is back and the same-day version's bars
    (of no height) still show their 0.0."""
    admin = decided_world(catalogue, [0, 0, 0.5])
    log_in(page, admin.username)
    page.goto("/board/")
    expect(page.locator('[data-chart="chart-states"]')).to_have_attribute("data-drawn", "true")
    section = page.locator("#turnaround")
    expect(
        section.get_by_text("All 3 decided projects were decided on the day of their first submission")
    ).to_be_visible()
    expect(section.locator("[data-chart]")).to_have_count(0)
    expect(section.locator("#turnaround-table tbody tr")).to_have_count(1)
    section.scroll_into_view_if_needed()
    shot("turnaround-all-same-day")

    v2 = second_version(catalogue)
    start = at(date(2026, 4, 1))
    later = ProjectFactory(guideline_version=v2, status=ProjectStatus.APPROVED)
    decide(submit(later, start), Outcome.APPROVED, start + timedelta(days=12))
    board_snapshot_refresh()  # the background recount the unfiltered board is read from
    page.reload()
    chart = section.locator('[data-chart="chart-turnaround"]')
    expect(chart).to_have_attribute("data-drawn", "true")
    expect(page.locator("#turnaround-same-day")).to_have_count(0)
    labels = chart.locator("text.bartext")
    expect(labels).to_have_text(["12.0", "0.0", "12.0", "0.0"])
    for i in range(4):
        expect(labels.nth(i)).to_be_visible()
    section.scroll_into_view_if_needed()
    shot("turnaround-one-version-same-day")
    assert not browser_errors, browser_errors
