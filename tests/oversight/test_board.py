"""The board dashboard's figures on a hand-made portfolio whose answers are known, read from
the page as an admin reads them (the tables beside the charts), and its filters and links."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from oversight.charts import board_charts
from oversight.selectors import BoardFilters, board, board_projects, percentile
from reviews.enums import Modality, Outcome, VersionStatus
from reviews.models import GuidelineVersion
from tests.factories import ProjectFactory
from tests.oversight.worlds import decide, decided_world, small_world, submit

URL = reverse("board-dashboard")


@pytest.fixture
def world(catalogue):
    return small_world(catalogue)


def figures(**filters):
    chosen = BoardFilters(**filters)
    return board(board_projects(chosen), today=timezone.localdate(), filters=chosen)


def table(html: str, table_id: str) -> list[list[str]]:
    """The rows of a table on the page as text cells (header cells and data cells alike)."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert found, f"no table {table_id} on the page"
    rows = re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)
    return [
        [
            re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", cell))).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


def links(html: str, table_id: str) -> list[tuple[str, list[tuple[str, str]]]]:
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert found
    return [
        (urlsplit(unescape(href)).path, parse_qsl(urlsplit(unescape(href)).query))
        for href in re.findall(r'href="([^"]+)"', found.group(0))
    ]


def test_percentile_interpolates_between_ranks():
    assert percentile([10, 20, 30, 40], 0.5) == 25
    assert percentile([10, 20, 30, 40], 0.9) == pytest.approx(37)
    assert percentile([7], 0.9) == 7
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_every_figure_of_the_portfolio(world):
    data = figures()
    expected = world.expected
    assert data.total == expected["total"]
    assert {bar.key: bar.value for bar in data.states if bar.value} == expected["states"]
    assert {row.version_pk: (row.decided, row.median_days, row.p90_days) for row in data.turnaround} == expected[
        "turnaround"
    ]
    waiting = data.waiting
    assert (waiting.overdue_reviews, waiting.overdue_projects) == (
        expected["overdue_reviews"],
        expected["overdue_projects"],
    )
    assert waiting.unassigned == expected["unassigned"]
    assert waiting.invitations == expected["invitations"]
    assert {r.name: (r.active, r.overdue, r.finished) for r in data.reviewers} == expected["load"]
    assert [r.name for r in data.reviewers] == ["Tess Technical", "Carl Clinical", "Ivy Idle"]
    assert [(i.code, i.marks, i.projects) for i in data.items] == expected["items"]
    assert {a.audit: a.failing for a in data.audits if a.failing} == expected["failing"]
    assert {a.audit: a.waived for a in data.audits if a.waived} == expected["waived"]
    assert [a.audit for a in data.audits][:2] == ["disclosure", "privacy"]  # most failing first
    assert {m.label: (m.submissions, m.decisions) for m in data.months} == expected["months"]
    assert [m.label for m in data.months] == ["2026-05", "2026-04", "2026-03", "2026-02", "2026-01"]


@pytest.mark.parametrize(
    ("filters", "total", "versions"),
    [
        pytest.param({"version": "v2"}, 3, {"v2"}, id="version"),
        pytest.param({"modality": Modality.MR}, 3, {"v2"}, id="modality"),
        pytest.param({"task": "super_resolution"}, 2, {"v2"}, id="task"),
        pytest.param({"submitted_after": "2026-05-01"}, 3, set(), id="submitted-after"),
        pytest.param({"submitted_after": "2026-01-01", "submitted_before": "2026-01-31"}, 2, {"v1"}, id="january"),
    ],
)
def test_filters_narrow_every_figure(world, filters, total, versions):
    from datetime import date

    chosen = {
        key: (getattr(world, value) if key == "version" else date.fromisoformat(value) if "submitted" in key else value)
        for key, value in filters.items()
    }
    data = figures(**chosen)
    assert data.total == total
    assert {row.version_pk for row in data.turnaround} == {getattr(world, v).pk for v in versions}


def test_the_january_range_keeps_its_medians_and_drops_the_rest(world):
    from datetime import date

    data = figures(submitted_after=date(2026, 1, 1), submitted_before=date(2026, 1, 31))
    # v1-a (10 days) and v1-b (20 days): median 15, 90th percentile 19.
    assert [(t.decided, t.median_days, t.p90_days) for t in data.turnaround] == [(2, 15.0, 19.0)]
    assert [(i.code, i.marks, i.projects) for i in data.items] == [("EV-5", 1, 1)]
    assert data.waiting.overdue_reviews == 0
    assert {a.audit: a.failing for a in data.audits if a.failing} == {"privacy": 1, "disclosure": 1}


def test_the_modality_filter_matches_whole_codes(world):
    ProjectFactory(owner=world.projects["draft"].owner, modalities=[Modality.OCT], title="Retina OCT")
    ProjectFactory(owner=world.projects["draft"].owner, modalities=[Modality.MR, Modality.CT], title="Both")
    assert figures(modality=Modality.CT).total == 9 + 1  # the nine CT projects and "Both", not OCT
    assert figures(modality=Modality.OCT).total == 1


def test_the_admin_reads_the_figures_in_the_tables(client, world):
    client.force_login(world.admin)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    states = {label: int(count) for label, count in table(html, "states-table")}
    assert states["Approved"] == 5 and states["Draft"] == 2 and states["In review"] == 1
    assert table(html, "turnaround-table") == [
        [str(world.v2), "2", "5.0", "5.8"],  # the newest version first
        [str(world.v1), "4", "25.0", "37.0"],
    ]
    assert table(html, "reviewers-table")[0] == ["Tess Technical Technical", "2", "1", "2"]  # name, expertise under it
    items = table(html, "items-table")
    assert items[0][0].startswith("EV-5") and items[0][1:] == ["3", "2"]
    assert table(html, "audits-table")[0] == ["Disclosure", "2", "0"]
    assert table(html, "months-table")[2] == ["2026-03", "2", "4"]
    tiles = re.search(r'id="tile-overdue".*?fs-3[^>]*>(\d+)<', html, re.S)
    assert tiles and tiles.group(1) == "2"
    assert 'data-chart="chart-states"' in html and 'id="chart-states" type="application/json"' in html


def test_each_number_links_to_the_projects_behind_it_with_the_filters(client, world):
    client.force_login(world.admin)
    html = client.get(URL, {"version": world.v1.pk, "submitted_after": "2026-01-01"}).content.decode()
    base = [("version", str(world.v1.pk)), ("submitted_after", "2026-01-01")]
    project_list = reverse("project-list")
    state_links = links(html, "states-table")
    assert state_links[0] == (project_list, [*base, ("status", "draft")])
    item_path, item_query = links(html, "items-table")[0]
    assert item_path == project_list and item_query == [*base, ("must_change", "EV-5")]
    audits = links(html, "audits-table")
    assert (project_list, [*base, ("audit", "disclosure"), ("audit_status", "fail")]) in audits
    assert (project_list, [*base, ("waived", "memorization")]) in audits
    tess = world.reviewers["tess"]
    reviewer_query = links(html, "reviewers-table")[0][1]
    assert ("reviewer", str(tess.pk)) in reviewer_query and ("status", "in_review") in reviewer_query
    # A month's link is that month, within the dashboard's own range.
    month_links = dict((q[-2][1], q) for _, q in links(html, "months-table"))
    may = month_links["2026-05-01"]
    assert may == [("version", str(world.v1.pk)), ("submitted_after", "2026-05-01"), ("submitted_before", "2026-05-31")]
    overdue = re.search(r'id="tile-overdue" *href="([^"]+)"|href="([^"]+)" id="tile-overdue"', html)
    assert overdue
    query = parse_qsl(urlsplit(unescape(overdue.group(1) or overdue.group(2))).query)
    assert query == [("version", str(world.v1.pk)), ("submitted_after", "2026-01-01"), ("overdue", "1")]


def test_the_filters_stay_in_the_form_and_change_the_figures(client, world):
    client.force_login(world.admin)
    html = client.get(URL, {"version": world.v2.pk}).content.decode()
    assert re.search(rf'<option value="{world.v2.pk}" selected>', html)
    assert table(html, "turnaround-table") == [[str(world.v2), "2", "5.0", "5.8"]]
    assert "export.csv?version=" in html


@pytest.mark.parametrize(
    ("query", "message", "total"),
    [
        pytest.param(
            {"version": "999999"}, "Guideline version</a>: There is no published guideline version", "12", id="version"
        ),
        pytest.param(
            {"version": "abc"},
            "Guideline version</a>: There is no published guideline version",
            "12",
            id="version-text",
        ),
        pytest.param(
            {"submitted_after": "2026-13-45"}, "First submitted from</a>: Enter a date as YYYY-MM-DD.", "12", id="date"
        ),
        pytest.param({"modality": "XYZ"}, "Modality</a>: Select a valid choice.", "12", id="modality"),
        pytest.param(  # the day after it overflowed: a 500
            {"submitted_before": "9999-12-31"},
            "First submitted until</a>: Enter a date from 1900-01-01 to 2999-12-31.",
            "12",
            id="last-date",
        ),
        pytest.param(
            {"submitted_after": "2026-03-01", "submitted_before": "2026-02-01"},
            "First submitted until</a>: This date is before",
            "6",  # from March on: the valid half of the range still applies
            id="reversed-range",
        ),
    ],
)
def test_a_bad_filter_is_named_and_left_out(client, world, query, message, total):
    client.force_login(world.admin)
    response = client.get(URL, query)
    assert response.status_code == 200
    html = response.content.decode()
    assert "These filters were left out" in html and message in html
    field = message.split("</a>")[0]
    assert re.search(r'class="[^"]*is-invalid"[^>]*aria-invalid="true"', html), f"{field} is not marked invalid"
    shown = re.search(r'id="tile-projects".*?fs-3[^>]*>(\d+)<', html, re.S)
    assert shown and shown.group(1) == total


def test_an_empty_selection_says_so(client, world):
    client.force_login(world.admin)
    html = client.get(URL, {"submitted_after": "2030-01-01"}).content.decode()
    assert "No project matches these filters." in html
    assert "plotly" not in html


@pytest.mark.parametrize("role", ["researcher", "reviewer"])
def test_only_admins_see_the_board(client, role, request, world):
    client.force_login(request.getfixturevalue(role))
    for url in (URL, reverse("board-export")):
        response = client.get(url)
        assert response.status_code == 403
        assert "only administrators see the board dashboard" in response.content.decode()
        assert "Tess Technical" not in response.content.decode()


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login") + "?next=/board/")


def test_every_number_is_the_size_of_the_list_it_links_to(client, rf, world):
    """Each linked number counts exactly the projects the project list shows behind it (its
    filters, reviews.filters.ProjectFilter), with and without the dashboard's own filters."""
    from django.http import QueryDict

    from reviews.filters import ProjectFilter
    from reviews.models import Project

    client.force_login(world.admin)
    project_list = reverse("project-list")
    checked = 0
    for query in ({}, {"version": world.v1.pk}, {"modality": "CT", "submitted_after": "2026-02-01"}):
        html = client.get(URL, query).content.decode()
        for href, number in re.findall(r'<a href="([^"]+)">(\d+)</a>', html):
            url = urlsplit(unescape(href))
            if url.path != project_list:
                continue
            request = rf.get(url.path + "?" + url.query)
            request.user = world.admin
            behind = ProjectFilter(QueryDict(url.query), queryset=Project.objects.all(), request=request)
            assert behind.is_valid(), (href, behind.errors)
            assert behind.qs.count() == int(number), (
                f"{href} lists {behind.qs.count()} projects, the board says {number}"
            )
            checked += 1
    assert checked > 40


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"version": "99999999999999999999999"}, id="huge-version"),
        pytest.param({"version": "-1"}, id="negative-version"),
        pytest.param({"version": "1\x00"}, id="nul-version"),
        pytest.param({"modality": "CT\x00"}, id="nul-modality"),
        pytest.param({"task": "x" * 5000}, id="long-task"),
        pytest.param({"submitted_after": "0000-00-00"}, id="zero-date"),
        pytest.param({"submitted_before": "99999-12-31"}, id="far-date"),
        pytest.param({"submitted_before": "9999-12-31"}, id="last-date"),
        pytest.param({"submitted_after": "0001-01-01", "submitted_before": "0001-01-01"}, id="first-date"),
        pytest.param({"submitted_after": "2026-01-01'; DROP TABLE reviews_project; --"}, id="quote"),
    ],
)
@pytest.mark.parametrize("name", ["board-dashboard", "board-export"])
def test_hostile_filters_are_refused_in_words_not_with_an_error(client, admin_user, catalogue, query, name):
    client.force_login(admin_user)
    response = client.get(reverse(name), query)
    assert response.status_code == 200
    if name == "board-dashboard":
        assert "These filters were left out" in response.content.decode()


def test_the_date_range_takes_both_whole_days(world):
    from datetime import date

    from tests.oversight.worlds import at, submit

    january = {"submitted_after": date(2026, 1, 1), "submitted_before": date(2026, 1, 31)}
    february_first = {"submitted_after": date(2026, 2, 1), "submitted_before": date(2026, 2, 1)}
    before = figures(**january).total, figures(**february_first).total
    owner = world.projects["draft"].owner
    submit(ProjectFactory(owner=owner), at(date(2026, 1, 31), 23).replace(minute=59, second=59))
    submit(ProjectFactory(owner=owner), at(date(2026, 2, 1), 0))
    assert (figures(**january).total, figures(**february_first).total) == (before[0] + 1, before[1] + 1)


def test_of_two_runs_at_the_same_moment_the_later_one_counts(world):
    from datetime import date

    from tests.oversight.worlds import at, audit_run

    project = ProjectFactory(owner=world.projects["draft"].owner)
    before = {a.audit: a.failing for a in figures().audits}
    audit_run(project, created=at(date(2026, 6, 1)), manifest="fail")
    audit_run(project, created=at(date(2026, 6, 1)))  # same created_at, higher id: the latest
    assert {a.audit: a.failing for a in figures().audits} == before
    audit_run(project, created=at(date(2026, 6, 1)), memorization="fail")
    after = {a.audit: a.failing for a in figures().audits}
    assert after == {**before, "memorization": before["memorization"] + 1}


def turnaround_note(html: str) -> str:
    found = re.search(r'<p[^>]*id="turnaround-same-day"[^>]*>(.*?)</p>', html, re.S)
    return re.sub(r"\s+", " ", unescape(found.group(1))).strip() if found else ""


def test_decisions_made_the_day_of_submission_are_told_not_an_empty_chart(client, catalogue):
    """Every project decided the day it was submitted: the medians are 0.0 days, which would
    draw a frame without a bar. The board says what happened in words, beside the table."""
    admin = decided_world(catalogue, [0, 0, 0.5, 1])
    client.force_login(admin)
    html = client.get(URL).content.decode()
    assert table(html, "turnaround-table") == [[str(catalogue), "4", "0.0", "0.0"]]
    assert turnaround_note(html) == (
        "All 4 decided projects were decided on the day of their first submission, so every median "
        "and 90th percentile is 0.0 days: there are no bars to chart."
    )
    assert 'data-chart="chart-turnaround"' not in html
    # The other charts are still drawn.
    assert 'data-chart="chart-states"' in html


def test_one_project_decided_the_day_of_submission(client, catalogue):
    client.force_login(decided_world(catalogue, [1]))
    assert turnaround_note(client.get(URL).content.decode()).startswith(
        "The one decided project was decided on the day of its first submission, so"
    )


def test_a_late_decision_past_the_90th_percentile_is_not_called_same_day(client, catalogue):
    """Ten of eleven decided in the hour and one a month later: the median and the 90th
    percentile are still 0.0 days, and the sentence counts only the ten."""
    client.force_login(decided_world(catalogue, [0] * 10 + [24 * 30]))
    html = client.get(URL).content.decode()
    assert table(html, "turnaround-table") == [[str(catalogue), "11", "0.0", "0.0"]]
    assert turnaround_note(html).startswith("10 of the 11 decided projects were decided on the day of their first")
    assert 'data-chart="chart-turnaround"' not in html


def test_a_version_decided_the_same_day_keeps_its_zeros_on_the_chart(client, world):
    """Beside a version with a turnaround, a version decided in the hour has bars of no height:
    the chart writes each bar's days above it, so its 0.0 still shows."""
    v3 = GuidelineVersion.objects.create(
        guideline_set=world.v1.guideline_set, number=3, status=VersionStatus.PUBLISHED, published_at=timezone.now()
    )
    start = timezone.now() - timedelta(days=3)
    project = ProjectFactory(owner=world.projects["draft"].owner, guideline_version=v3, status="approved")
    decide(submit(project, start), Outcome.APPROVED, start + timedelta(minutes=20))
    data = figures()
    assert [(t.number, t.median_days, t.same_day) for t in data.turnaround] == [(3, 0.0, 1), (2, 5.0, 0), (1, 25.0, 0)]
    chart = {c.key: c for c in board_charts(data, ())}["turnaround"]
    median, p90 = chart.figure["data"]
    assert median["text"] == ["0.0", "5.0", "25.0"] and p90["text"] == ["0.0", "5.8", "37.0"]
    assert median["textposition"] == "outside"
    client.force_login(world.admin)
    html = client.get(URL).content.decode()
    assert 'data-chart="chart-turnaround"' in html and not turnaround_note(html)
