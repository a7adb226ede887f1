"""The project list's search, filters, sort and pages in a browser, and the lists at phone width."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from reviews.enums import AssignmentStatus, Modality, ProjectStatus
from reviews.models import Assignment, Project, Round
from tests.factories import PASSWORD, AdminFactory, ProjectFactory, ResearcherFactory, ReviewerFactory

pytestmark = pytest.mark.browser

PHONE = 390
TOTAL = 80  # 60 of them "Kidney": two pages of 50


def _login(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE, f"the page is {width} px wide at {PHONE} px"


def _both_widths(page: Page, shot: Callable[[str], Path], name: str) -> None:
    shot(f"{name}-desktop")
    page.set_viewport_size({"width": PHONE, "height": 844})
    _no_horizontal_scroll(page)
    shot(f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def board(catalogue):
    admin = AdminFactory(username="ada", full_name="Ada Admin")
    owners = [ResearcherFactory(full_name=name) for name in ("Rosa Researcher", "Quentin Quill")]
    reviewer = ReviewerFactory(username="rita", full_name="Rita Reviewer")
    now = timezone.now()
    for n in range(TOTAL):
        modality = Modality.CT if n % 2 else Modality.MR
        project = ProjectFactory(
            owner=owners[n % 2],
            guideline_version=catalogue,
            title=f"{'Kidney' if n % 4 < 3 else 'Liver'} {modality} study {n:02d}",
            modalities=[modality],
        )
        status = ProjectStatus.SUBMITTED if n % 3 else ProjectStatus.DRAFT
        Project.objects.filter(pk=project.pk).update(status=status, updated_at=now - timedelta(minutes=n))
        if status == ProjectStatus.SUBMITTED:
            Round.objects.create(
                project=project,
                number=1,
                guideline_version=catalogue,
                canonical_json="{}",
                digest="0" * 64,
                submitted_by=project.owner,
                submitted_at=now - timedelta(days=n),
            )
            if n % 5 == 0:
                Assignment.objects.create(
                    project=project,
                    reviewer=reviewer,
                    assigned_by=admin,
                    due_date=timezone.localdate() - timedelta(days=n % 7 - 3),
                    status=AssignmentStatus.ACCEPTED if n % 2 else AssignmentStatus.INVITED,
                )
    return admin


def _titles(page: Page) -> list[str]:
    return page.locator("#project-table tbody tr td.stack-title a").all_inner_texts()


def test_filter_sort_and_page_through_the_project_list(page: Page, shot, browser_errors, board) -> None:
    _login(page, "ada")
    page.goto("/projects/")
    expect(page.locator("#shown-count")).to_contain_text(f"{TOTAL} of {TOTAL} projects shown")
    _both_widths(page, shot, "01-all-projects")

    page.get_by_label("Search").fill("kidney")
    page.get_by_label("Submitted", exact=True).check()
    page.locator("summary", has_text="More filters").click()
    page.get_by_label("Modality").select_option("CT")
    page.get_by_label("Sort by").select_option("title")
    shot("02-filters-chosen")
    page.get_by_role("button", name="Apply").click()

    # Kidney (n % 4 < 3), CT (odd n), submitted (n % 3 != 0).
    expected = sorted(f"Kidney CT study {n:02d}" for n in range(TOTAL) if n % 4 < 3 and n % 2 and n % 3)
    expect(page.locator("#shown-count")).to_contain_text(f"{len(expected)} of {TOTAL} projects shown")
    assert _titles(page) == expected
    params = parse_qs(urlsplit(page.url).query)
    assert params["q"] == ["kidney"] and params["status"] == ["submitted"] and params["modality"] == ["CT"]
    assert params["sort"] == ["title"]
    expect(page.locator("#filter-summary")).to_contain_text("Modality: CT")
    _both_widths(page, shot, "03-filtered-sorted")

    # The other direction of the same sort.
    page.get_by_label("Sort by").select_option("-title")
    page.get_by_role("button", name="Apply").click()
    assert _titles(page) == list(reversed(expected))

    # Page 2 of a long list keeps the filters; the back button returns to page 1.
    page.goto("/projects/?q=kidney&sort=title")
    first_page = _titles(page)
    assert len(first_page) == 50
    page.get_by_role("link", name="Next").click()
    params = parse_qs(urlsplit(page.url).query)
    assert params == {"q": ["kidney"], "sort": ["title"], "page": ["2"]}
    second_page = _titles(page)
    assert len(second_page) == 10
    assert all(title.startswith("Kidney") for title in second_page)
    assert not set(first_page) & set(second_page)
    assert sorted(first_page + second_page) == first_page + second_page
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    shot("04-page-two")
    page.go_back()
    assert _titles(page) == first_page

    # A filter that removes everything says which; its chip drops it.
    page.goto("/projects/?q=liver&modality=MR&status=draft&status=approved")  # every liver study is CT
    expect(page.locator("#empty-filtered")).to_contain_text("Status: Draft, Approved")
    shot("05-empty")
    expect(page.locator("#empty-filtered")).to_contain_text("Modality: MRI")
    page.locator("a.active-filter", has_text="Modality").click()
    assert all("Liver CT" in title for title in _titles(page)) and _titles(page)

    # A bad value: the field is named, nothing is listed, the page still works.
    page.goto("/projects/?submitted_after=yesterday&q=kidney")
    expect(page.locator("#filter-errors")).to_contain_text("Submitted from")
    expect(page.get_by_label("Search")).to_have_value("kidney")
    _both_widths(page, shot, "06-bad-date")
    page.get_by_role("link", name="Clear filters").first.click()
    expect(page.locator("#shown-count")).to_contain_text(f"{TOTAL} of {TOTAL} projects shown")
    assert not [e for e in browser_errors if "500" in e]


def test_filter_bar_folds_on_a_phone_and_other_lists_fit(page: Page, shot, browser_errors, board) -> None:
    _login(page, "ada")
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.goto("/projects/")
    search = page.get_by_label("Search")
    expect(search).to_be_hidden()
    page.get_by_role("button", name="Search and filters").click()
    expect(search).to_be_visible()
    _no_horizontal_scroll(page)
    shot("01-phone-filters-open")
    search.fill("liver")
    page.get_by_role("button", name="Apply").click()
    assert _titles(page) and all(title.startswith("Liver") for title in _titles(page))
    page.set_viewport_size({"width": 1280, "height": 900})

    for name, url in (
        ("02-users", "/staff/users/?sort=name"),
        ("03-all-reviews", "/reviews/all/"),
        ("04-overdue-reviews", "/reviews/all/?overdue=1"),
    ):
        page.goto(url)
        _both_widths(page, shot, name)

    page.context.clear_cookies()
    _login(page, "rita")
    page.goto("/reviews/")
    _both_widths(page, shot, "05-my-reviews")
    assert not [e for e in browser_errors if "500" in e]
