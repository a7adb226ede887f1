"""Reads of the API's project resources, with the query choices that keep their counts fixed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import OuterRef, QuerySet

from reviews.models import Answer, GuidelineItem, Project
from reviews.selectors.projects import count_of, first_submitted_at, in_order_of, projects_visible_to, with_progress


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
    """The projects of one page of the list, by id, in the order given: one query.

    The filters, the order and the page run on bare project rows (the list's ids); only those
    rows are read with their counts, whatever the number of projects."""
    return in_order_of(with_api_progress(projects_visible_to(user).filter(pk__in=ids).order_by()), ids)


def project_with_progress(*, project: Project) -> Project:
    """One project as project_rows gives it (one query)."""
    return with_api_progress(Project.objects.filter(pk=project.pk)).get()
