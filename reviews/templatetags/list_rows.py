"""The table rows of the project list and of every review, written in Python.

A page of these lists shows 50 rows of about a dozen values each; as template nodes (a
variable, a filter, an `{% if %}`, an include and a `{% url %}` per cell) they cost most of the
page, several times a bare view (issue 13). These tags write the same HTML from the same
values: every value escaped as autoescaping would (`conditional_escape`), dates as `|date`
gives them in the current time zone, links as `{% url %}` reverses them (`object_url`: each
address once per process). What a row shows of the viewer (the researcher column) is decided once per page by
the template, from `perms`, and passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django import template
from django.db.models import Model
from django.utils.safestring import SafeString
from django.utils.timezone import is_aware, localtime
from django.utils.translation import get_language

from reviews.templatetags.escaping import text as _e
from reviews.templatetags.review_tags import object_url, status_badge

register = template.Library()


def _local(value: datetime) -> datetime:
    """The time in the current time zone, as the template engine gives it to `|date`."""
    return localtime(value) if is_aware(value) else value


def _day(value: date | datetime) -> str:
    """`{{ value|date:"Y-m-d" }}`."""
    if isinstance(value, datetime):
        value = _local(value)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _minute(value: datetime) -> str:
    """`{{ value|date:"Y-m-d H:i" }}`."""
    value = _local(value)
    return f"{_day(value)} {value.hour:02d}:{value.minute:02d}"


@lru_cache(maxsize=32)
def _labels(model: type[Model], name: str, language: str | None) -> dict[Any, str]:
    return {value: str(label) for value, label in model._meta.get_field(name).flatchoices}  # type: ignore[union-attr]


def _display(row: Model, name: str) -> str:
    """`row.get_<name>_display()`: the label of a stored choice (the value itself when it is none
    of the choices), from a table made once per process and language (the choices are code)."""
    value = getattr(row, name)
    return _labels(type(row)._meta.concrete_model, name, get_language()).get(value, value)  # type: ignore[arg-type]


@register.simple_tag
def project_rows(projects: Iterable[Any], manage_users: bool) -> SafeString:
    """The `<tr>` of each project of reviews/project_list.html."""
    rows = []
    for project in projects:
        first = project.first_submitted_at
        researcher = (
            f'\n      <td data-label="Researcher">{_e(project.owner.display_name)}</td>' if manage_users else "\n      "
        )
        rows.append(
            f"""
    <tr>
      <td class="stack-title"><a href="{_e(object_url("project-detail", project.pk))}">{_e(project.title)}</a></td>{researcher}
      <td class="small" data-label="Task">{_e(_display(project, "synthesis_task"))}</td>
      <td data-label="Status">{status_badge(project.status, _display(project, "status"))}</td>
      <td class="small" data-label="Checklist">{_e(project.answered)} / {_e(project.item_total or 0)} answered</td>
      <td data-label="Rounds">{_e(project.round_count)}</td>
      <td class="small text-nowrap" data-label="First submitted (UTC)">{_day(first) if first else '<span class="text-muted">not yet</span>'}</td>
      <td class="small text-nowrap" data-label="Updated (UTC)">{_minute(project.updated_at)}</td>
    </tr>
  """
        )
    return SafeString("".join(rows))


def _assignment_status(assignment: Any) -> str:
    colour = {"accepted": "text-bg-success", "invited": "text-bg-primary"}.get(assignment.status, "text-bg-secondary")
    conflict = (
        ' <span class="badge text-bg-danger">Conflict declared</span>'
        if assignment.is_active and assignment.has_conflict
        else ""
    )
    return f'<span class="badge {colour}">{_e(_display(assignment, "status"))}</span>{conflict}'


def _assignment_review(assignment: Any) -> str:
    if assignment.review_submitted_at:
        when = _day(assignment.review_submitted_at)
        return f'<i class="bi bi-check2-circle text-success" aria-hidden="true"></i> submitted {when}'
    return "not submitted" if assignment.status == "accepted" and assignment.round_number else "—"


@register.simple_tag
def assignment_rows(assignments: Iterable[Any]) -> SafeString:
    """The `<tr>` of each assignment of reviews/review_list.html."""
    rows = []
    for assignment in assignments:
        project, reviewer = assignment.project, assignment.reviewer
        late = assignment.late
        shade = "table-warning" if late else ("text-muted" if not assignment.is_active else "")
        number = assignment.round_number
        round_link = (
            f'<a href="{_e(object_url("round-detail", project.pk, number))}">Round {_e(number)}</a>' if number else "—"
        )
        reviewers = (
            f'<a class="btn btn-sm btn-outline-primary" href="{_e(object_url("assignment-list", project.pk))}">Reviewers'
            f'<span class="visually-hidden"> of {_e(project.title)}</span></a>'
            if project.status not in ("withdrawn", "draft")
            else ""
        )
        rows.append(
            f"""
    <tr class="{shade}">
      <td class="stack-title">{_e(reviewer.display_name)}<div class="small text-muted fw-normal">{_e(_display(reviewer, "expertise") or "")}</div></td>
      <td data-label="Project"><a href="{_e(object_url("project-detail", project.pk))}">{_e(project.title)}</a>
        <div class="small">{status_badge(project.status, _display(project, "status"))} <span class="text-muted">· submitted by {_e(project.owner.display_name)}</span></div></td>
      <td data-label="Status">{_assignment_status(assignment)}</td>
      <td class="text-nowrap" data-label="Due (UTC)">{_day(assignment.due_date)}{' <span class="badge text-bg-warning overdue-flag">overdue</span>' if late else ""}</td>
      <td data-label="Round">{round_link}</td>
      <td class="small" data-label="Review">{_assignment_review(assignment)}</td>
      <td class="text-end stack-actions">{reviewers}</td>
    </tr>
  """
        )
    return SafeString("".join(rows))
