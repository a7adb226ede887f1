"""The dashboard's figures as CSV rows: one row per number, with the project list behind it
where a list of exactly that many projects exists (the page links the same numbers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from oversight.links import project_list_url
from oversight.selectors import Board, BoardFilters, Params
from reviews.csv_safe import csv_cell

HEADER = ("figure", "row", "measure", "value", "projects list")


def board_rows(board: Board, filters: BoardFilters) -> Iterator[tuple[Any, ...]]:
    base = filters.params

    def row(figure: str, label: str, measure: str, value: Any, params: Params | None = None) -> tuple[Any, ...]:
        link = project_list_url(base, params) if params is not None else ""
        return tuple(csv_cell(cell) for cell in (figure, label, measure, value, link))

    yield HEADER
    yield row("Filters", "Guideline version", "", str(filters.version) if filters.version else "all")
    yield row("Filters", "Modality", "", filters.modality or "all")
    yield row("Filters", "Synthesis task", "", filters.task or "all")
    yield row(
        "Filters", "First submitted from", "", filters.submitted_after.isoformat() if filters.submitted_after else ""
    )
    yield row(
        "Filters", "First submitted until", "", filters.submitted_before.isoformat() if filters.submitted_before else ""
    )
    # The unfiltered figures come from the snapshot (oversight.snapshot): say of when.
    yield row("Figures as of", "", "", board.as_of.isoformat(timespec="seconds") if board.as_of else "")
    for bar in board.states:
        yield row("Projects by state", bar.label, "projects", bar.value, bar.params)
    for month in board.months:
        yield row("Per month", month.label, "first submissions", month.submissions, month.params)
        # Decisions are rounds, and the project list cannot select by decision date: no list.
        yield row("Per month", month.label, "decisions", month.decisions)
    for version in board.turnaround:
        yield row("Turnaround", version.label, "decided projects", version.decided, version.params)
        yield row("Turnaround", version.label, "median days", version.median_days)
        yield row("Turnaround", version.label, "90th percentile days", version.p90_days)
    waiting = board.waiting
    yield row("Waiting", "Reviews overdue", "reviews", waiting.overdue_reviews)
    yield row("Waiting", "Reviews overdue", "projects", waiting.overdue_projects, waiting.overdue_params)
    yield row("Waiting", "Unassigned", "projects", waiting.unassigned, waiting.unassigned_params)
    yield row("Waiting", "Invitations waiting", "invitations", waiting.invitations)
    yield row("Waiting", "Invitations waiting", "projects", waiting.invited_projects, waiting.invited_params)
    for reviewer in board.reviewers:
        yield row("Reviewer load", reviewer.name, "open assignments", reviewer.active, reviewer.params)
        yield row("Reviewer load", reviewer.name, "overdue", reviewer.overdue)
        yield row("Reviewer load", reviewer.name, "rounds reviewed", reviewer.finished)
    for item in board.items:
        yield row("Must change", item.code, "marks", item.marks)
        yield row("Must change", item.code, "projects", item.projects, item.params)
    for audit in board.audits:
        yield row("Audits", audit.label, "projects failing in the latest run", audit.failing, audit.fail_params)
        yield row("Audits", audit.label, "projects with a waiver", audit.waived, audit.waived_params)
