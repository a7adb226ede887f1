"""Reads of the API's project resources, with the query choices that keep their counts fixed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import OuterRef, QuerySet

from reviews.models import Answer, GuidelineItem, Project, Round
from reviews.selectors.projects import (
    count_of,
    first_submitted_at,
    in_order_of,
    projects_visible_to,
    version_item_totals,
    with_progress,
)


def with_api_progress(projects: QuerySet[Project]) -> QuerySet[Project]:
    """with_progress (answered and total items, rounds, owner and version) and what a client
    needs to know whether the project can be submitted: its required items, and how many of
    them are answered; with the first submission. Subqueries per row: apply it to a page's
    rows only."""
    required = GuidelineItem.objects.filter(version=OuterRef("guideline_version"), required=True)
    required_answered = Answer.objects.filter(project=OuterRef("pk"), item__required=True).exclude(status="")
    return with_progress(projects).annotate(
        required_total=count_of(required),
        required_answered=count_of(required_answered),
        first_submitted_at=first_submitted_at(),
    )


def project_rows(*, user: Any, ids: Sequence[int]) -> list[Project]:
    """The projects of one page of the list, by id, in the order given: one query, and one for
    the item totals of their guideline versions unless this process counted them already.

    The filters, the order and the page run on bare project rows (the list's ids); only those
    rows are read with their counts, whatever the number of projects. The rows are those of
    with_api_progress, whose per-version counts (item_total, required_total) come from
    version_item_totals instead of two subqueries per row."""
    required_answered = Answer.objects.filter(project=OuterRef("pk"), item__required=True).exclude(status="")
    rows = (
        projects_visible_to(user)
        .filter(pk__in=ids)
        .order_by()
        .select_related("owner", "guideline_version__guideline_set")
        .annotate(
            answered=count_of(Answer.objects.filter(project=OuterRef("pk")).exclude(status="")),
            round_count=count_of(Round.objects.filter(project=OuterRef("pk"))),
            required_answered=count_of(required_answered),
            first_submitted_at=first_submitted_at(),
        )
    )
    projects: list[Project] = in_order_of(rows, ids)
    totals = version_item_totals(
        {project.guideline_version_id: project.guideline_version for project in projects}.values()
    )
    for project in projects:
        project.item_total, project.required_total = totals[project.guideline_version_id]  # type: ignore[attr-defined]
    return projects


def project_with_progress(*, project: Project) -> Project:
    """One project as project_rows gives it (one query)."""
    return with_api_progress(Project.objects.filter(pk=project.pk)).get()
