"""Plotly figures of the board's figures, as plain dicts for json_script (drawn by static/js/board.js).

Each bar carries in `customdata` the project list that lists the projects behind it, so a
click on a bar opens them; the page's tables carry the same numbers and links for readers
who do not use the chart. A bar whose number no project list can list (decisions per month,
turnaround per deciding version) carries null: it opens nothing rather than a list of another size.

Plotly renders a subset of HTML in text it draws (tick labels, legend names, hover text:
<a href>, <b>, <span style>), so every label taken from what users typed (names, titles,
requirements) goes through `plain` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oversight.links import project_list_url
from oversight.selectors import Board, Params

BLUE = "#1c7ed6"
ORANGE = "#e8590c"
RED = "#e03131"
GREEN = "#2f9e44"
GREY = "#868e96"
MAX_REVIEWER_BARS = 15
# Plotly's text markup is HTML-like; these three characters start or spell every piece of it.
PLOTLY_MARKUP = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


# A tick label longer than this squeezes the plot to a strip; the table beside it has the whole text.
MAX_TICK = 28


def plain(text: str, *, limit: int = 0) -> str:
    """A label plotly shows as the text it is, never as markup (a link, a style, a break);
    cut to `limit` characters with an ellipsis when a limit is given (before escaping, so no
    entity is cut in half)."""
    text = str(text)
    if limit and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text.translate(PLOTLY_MARKUP)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    figure: dict[str, Any]

    @property
    def element_id(self) -> str:
        return f"chart-{self.key}"


def _layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": 300,
        "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        # Above the plot, anchored at its bottom: plotly widens the top margin when it wraps.
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "xaxis": {"gridcolor": "#e9ecef", "automargin": True},
        "yaxis": {"gridcolor": "#e9ecef", "automargin": True, "rangemode": "tozero"},
        "hovermode": "closest",
    }
    for key, value in extra.items():
        layout[key] = (
            {**layout[key], **value} if isinstance(value, dict) and isinstance(layout.get(key), dict) else value
        )
    return layout


def _count_axis(*series: list[int]) -> dict[str, Any]:
    """Counts have whole ticks: one per unit while the tallest bar is small, plotly's choice beyond."""
    tallest = max((value for values in series for value in values), default=0)
    return {"dtick": 1} if tallest <= 8 else {"tickformat": ",d"}


def _bars_height(bars: int) -> int:
    return max(200, 50 + 28 * bars)


def _day_labels(days: list[float]) -> dict[str, Any]:
    """Each bar's number of days written above it, as the table writes it: a version decided on
    the day of submission has bars of no height, and its "0.0" still shows where they stand."""
    return {"text": [f"{value:.1f}" for value in days], "textposition": "outside", "cliponaxis": False}


def _bar(name: str, x: list[Any], y: list[Any], links: list[str | None], colour: str, **extra: Any) -> dict[str, Any]:
    return {"type": "bar", "name": name, "x": x, "y": y, "customdata": links, "marker": {"color": colour}, **extra}


def board_charts(board: Board, base: Params) -> list[Chart]:
    def url(params: Params) -> str:
        return project_list_url(base, params)

    months = board.months[::-1]  # oldest first, left to right
    reviewers = board.reviewers[:MAX_REVIEWER_BARS]
    items = board.items[::-1]  # the most marked at the top of a horizontal bar chart
    states = board.states[::-1]  # draft at the top
    # One guideline set (the usual case): "v2" says it all, and fits under a bar on a phone.
    versions = [f"v{t.number}" if board.one_guideline_set else plain(t.label, limit=MAX_TICK) for t in board.turnaround]
    reviewer_names = [plain(r.name, limit=MAX_TICK) for r in reviewers]
    charts = [
        Chart(
            "states",
            "Projects by state",
            {
                "data": [
                    _bar(
                        "Projects",
                        [b.value for b in states],
                        [b.label for b in states],
                        [url(b.params) for b in states],
                        BLUE,
                        orientation="h",
                    )
                ],
                "layout": _layout(
                    height=_bars_height(len(states)),
                    yaxis={"type": "category"},
                    xaxis={"title": {"text": "projects"}, **_count_axis([b.value for b in states])},
                ),
            },
        ),
        Chart(
            "months",
            "First submissions and decisions per month",
            {
                "data": [
                    _bar(
                        "First submissions",
                        [m.label for m in months],
                        [m.submissions for m in months],
                        [url(m.params) for m in months],
                        BLUE,
                    ),
                    _bar(
                        "Decisions (approved or rejected)",
                        [m.label for m in months],
                        [m.decisions for m in months],
                        [None] * len(months),
                        GREEN,
                    ),
                ],
                "layout": _layout(
                    barmode="group",
                    xaxis={"type": "category"},
                    yaxis=_count_axis([m.submissions for m in months], [m.decisions for m in months]),
                ),
            },
        ),
        Chart(
            "turnaround",
            "Days from first submission to decision",
            {
                "data": [
                    _bar(
                        "Median",
                        versions,
                        [t.median_days for t in board.turnaround],
                        [None] * len(board.turnaround),
                        BLUE,
                        **_day_labels([t.median_days for t in board.turnaround]),
                    ),
                    _bar(
                        "90th percentile",
                        versions,
                        [t.p90_days for t in board.turnaround],
                        [None] * len(board.turnaround),
                        ORANGE,
                        **_day_labels([t.p90_days for t in board.turnaround]),
                    ),
                ],
                "layout": _layout(barmode="group", yaxis={"title": {"text": "days"}}),
            },
        ),
        Chart(
            "reviewers",
            "Reviewer load",
            {
                "data": [
                    _bar(
                        "Open assignments",
                        reviewer_names,
                        [r.active for r in reviewers],
                        [url(r.params) for r in reviewers],
                        BLUE,
                    ),
                    _bar(
                        "Overdue",
                        reviewer_names,
                        [r.overdue for r in reviewers],
                        [None] * len(reviewers),  # the list behind a reviewer counts their open assignments
                        RED,
                    ),
                    _bar(
                        "Rounds reviewed",
                        reviewer_names,
                        [r.finished for r in reviewers],
                        [None] * len(reviewers),  # the list behind a reviewer counts their open assignments
                        GREY,
                    ),
                ],
                "layout": _layout(
                    barmode="group",
                    xaxis={"tickangle": -30},
                    yaxis=_count_axis([r.active for r in reviewers], [r.finished for r in reviewers]),
                ),
            },
        ),
        Chart(
            "items",
            "Items most often marked “must change”",
            {
                "data": [
                    _bar(
                        "Projects with the item marked “must change”",
                        [i.projects for i in items],
                        [plain(i.code, limit=MAX_TICK) for i in items],
                        [url(i.params) for i in items],
                        ORANGE,
                        orientation="h",
                    )
                ],
                "layout": _layout(
                    height=_bars_height(len(items)),
                    yaxis={"type": "category"},
                    xaxis={"title": {"text": "projects"}, **_count_axis([i.projects for i in items])},
                ),
            },
        ),
        Chart(
            "audits",
            "Audits failing or waived",
            {
                "data": [
                    _bar(
                        "Failing in the latest run",
                        [a.label for a in board.audits],
                        [a.failing for a in board.audits],
                        [url(a.fail_params) for a in board.audits],
                        RED,
                    ),
                    _bar(
                        "Waived by a reviewer",
                        [a.label for a in board.audits],
                        [a.waived for a in board.audits],
                        [url(a.waived_params) for a in board.audits],
                        GREY,
                    ),
                ],
                "layout": _layout(
                    barmode="group",
                    xaxis={"tickangle": -30},
                    yaxis={
                        "title": {"text": "projects"},
                        **_count_axis([a.failing for a in board.audits], [a.waived for a in board.audits]),
                    },
                ),
            },
        ),
    ]
    return charts
