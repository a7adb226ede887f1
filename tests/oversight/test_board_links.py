"""Every number on the board that links somewhere links to a list of exactly that many projects:
followed through the project list view as the admin who clicks it, for the tables' links, the
tiles and every clickable bar of the charts, on a portfolio where "decided" is no longer a state
(an amendment in review, a withdrawn approval, an amendment moved to a newer version).

Also: turnaround is grouped by the version the deciding round was reviewed against, and
labels drawn by plotly carry no markup from what users typed."""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from oversight.charts import board_charts, plain
from oversight.selectors import LOAD_STATUSES, BoardFilters, board, board_projects
from reviews.enums import OPEN_STATUSES, ProjectStatus
from tests.factories import ReviewerFactory
from tests.oversight.worlds import add_later_lives, small_world

URL = reverse("board-dashboard")
PROJECT_LIST = reverse("project-list")


@pytest.fixture
def world(catalogue):
    built = small_world(catalogue)
    add_later_lives(built)
    return built


def _tile_number(tile_html: str) -> int:
    """The number of projects a tile names: "on N projects" when it counts something else first."""
    on = re.search(r"on (\d+) project", tile_html)
    big = re.search(r"fs-3[^>]*>(\d+)<", tile_html)
    assert on or big, tile_html
    return int(on.group(1) if on else big.group(1))  # type: ignore[union-attr]


def linked_numbers(html: str) -> list[tuple[str, int, str]]:
    """(where, number, link) for every link of the page to the project list with a number on it."""
    found: list[tuple[str, int, str]] = []
    for href, number in re.findall(r'<a href="([^"]+)">(\d+)</a>', html):
        found.append(("table", int(number), unescape(href)))
    for tile in re.findall(r'(<a class="card[^"]*board-tile.*?</a>)', html, re.S):
        href = re.search(r'href="([^"]+)"', tile)
        assert href, tile
        found.append(("tile", _tile_number(tile), unescape(href.group(1))))
    for chart_id, data in re.findall(r'<script id="(chart-[a-z]+)" type="application/json">(.*?)</script>', html, re.S):
        figure = json.loads(data)
        for trace in figure["data"]:
            values = trace["x"] if trace.get("orientation") == "h" else trace["y"]
            for value, link in zip(values, trace["customdata"], strict=True):
                if link is not None:
                    found.append((f"{chart_id}: {trace['name']}", int(value), link))
    return [(where, number, link) for where, number, link in found if urlsplit(link).path == PROJECT_LIST]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({}, id="everything"),
        pytest.param({"version": "v1"}, id="version-1"),
        pytest.param({"modality": "CT", "submitted_after": "2026-01-15"}, id="ct-from-mid-january"),
    ],
)
def test_every_linked_number_is_the_size_of_the_list_behind_it(client, world, query):
    if "version" in query:
        query = {"version": world.v1.pk}
    client.force_login(world.admin)
    html = client.get(URL, query).content.decode()
    checked: dict[str, int] = {}
    for where, number, link in linked_numbers(html):
        response = client.get(link)
        assert response.status_code == 200 and not response.context["filter_errors"], link
        listed = response.context["matching"]
        assert listed == number, f"{where}: the board says {number}, {link} lists {listed}"
        checked[where.split(":")[0]] = checked.get(where.split(":")[0], 0) + 1
    # The tables, the four tiles and the charts all took part.
    assert checked["tile"] == 4
    assert checked["table"] > 20
    assert {"chart-states", "chart-months", "chart-reviewers", "chart-items", "chart-audits"} <= set(checked)


def test_numbers_no_list_can_show_link_nowhere_and_say_so(client, world):
    client.force_login(world.admin)
    html = client.get(URL).content.decode()
    # The turnaround's decided projects link to the list by the version of their first decision
    # (its size is checked with every other link above); its days are no project count.
    turnaround = re.search(r'id="turnaround-table".*?</table>', html, re.S)
    assert turnaround and turnaround.group(0).count("decided_version=") == 2
    assert "Amended, suspended or withdrawn too".lower() in unescape(html).lower()
    months = re.search(r'id="months-table".*?</table>', html, re.S)
    assert months
    # Each month's row links its first submissions only; the decisions (rounds) link nowhere.
    rows = re.findall(r"<tr>(.*?)</tr>", months.group(0).split("<tbody>")[1], re.S)
    assert rows and all(row.count("<a ") == 1 for row in rows)
    assert "these numbers link nowhere" in html
    charts = {
        c.key: c.figure for c in board_charts(board(board_projects(BoardFilters()), today=timezone.localdate()), ())
    }
    decisions = next(t for t in charts["months"]["data"] if t["name"].startswith("Decisions"))
    assert set(decisions["customdata"]) == {None}
    assert all(set(t["customdata"]) == {None} for t in charts["turnaround"]["data"])


def test_turnaround_counts_projects_decided_whatever_they_became(world):
    data = board(board_projects(BoardFilters()), today=timezone.localdate())
    # v1: 10, 20, 30, 40 (approved or rejected and still so), 12 (amendment in review), 8
    # (withdrawn), 16 (moved to v2 since): median 16, 90th percentile 30 + 0.4 * 10.
    rows = {row.version_pk: (row.decided, row.median_days, row.p90_days) for row in data.turnaround}
    assert rows == {world.v1.pk: (7, 16.0, 34.0), world.v2.pk: (2, 5.0, 5.8)}
    assert data.decided == 9


def test_turnaround_follows_the_deciding_rounds_version_not_the_projects_current_one(world):
    moved = world.projects["moved"]
    assert moved.guideline_version == world.v2
    data = board(board_projects(BoardFilters(version=world.v2)), today=timezone.localdate())
    # Filtered to the projects on v2 now: the two decided on v2, and the moved one, decided on v1.
    rows = {row.version_pk: (row.decided, row.median_days) for row in data.turnaround}
    assert rows == {world.v2.pk: (2, 5.0), world.v1.pk: (1, 16.0)}


def test_the_status_sets_are_the_enums(world):
    assert set(LOAD_STATUSES) == OPEN_STATUSES - {ProjectStatus.DRAFT}
    assert list(LOAD_STATUSES) == [s for s in ProjectStatus if s in LOAD_STATUSES]  # lifecycle order


MARKUP = '<a href="https://evil.example/">Eve</a> <b>Bold</b> <span style="color:red">&amp; co</span>'


def test_labels_from_user_data_reach_plotly_as_text(world):
    ReviewerFactory(full_name=MARKUP)
    figures = board(board_projects(BoardFilters()), today=timezone.localdate())
    charts = {c.key: c.figure for c in board_charts(figures, ())}
    reviewer_ticks = charts["reviewers"]["data"][0]["x"]
    # Cut to a tick's length, then escaped: '<a href="https://evil.examp…'.
    assert '&lt;a href="https://evil.examp…' in reviewer_ticks
    assert plain(MARKUP) == MARKUP.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert plain("<b>x</b>", limit=4) == "&lt;b&gt;…"
    everything = json.dumps(charts)
    for tag in ("<a", "<b>", "<span"):
        assert tag not in everything, tag
