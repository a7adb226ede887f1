"""Reads of the API's project resources, with the query choices that keep their counts fixed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery

from reviews.filters import first_submitted_at
from reviews.models import GuidelineItem, Project
from reviews.selectors import projects_visible_to, with_progress


def with_api_progress(projects: QuerySet[Project]) -> QuerySet[Project]:
    """with_progress (answered and total items, rounds, owner and version) and what a client
    needs to know whether the project can be submitted: its required items, and how many of
    them are answered; with the first submission. Apply it to a page's rows only."""
    required_total = (
        GuidelineItem.objects.filter(version=OuterRef("guideline_version"), required=True)
        .values("version")
        .annotate(total=Count("pk"))
        .values("total")
    )
    return with_progress(projects).annotate(
        required_total=Subquery(required_total, output_field=IntegerField()),
        required_answered=Count(
            "answers", filter=~Q(answers__status="") & Q(answers__item__required=True), distinct=True
        ),
        first_submitted_at=first_submitted_at(),
    )


def project_rows(*, user: Any, ids: Sequence[int]) -> list[Project]:
    """The projects of one page of the list, by id, in the order given: one query.

    The filters, the order and the page run on bare project rows (the list's ids); only those
    rows are joined to their answers and rounds, whatever the number of projects."""
    found = {project.pk: project for project in with_api_progress(projects_visible_to(user).filter(pk__in=ids))}
    return [found[pk] for pk in ids if pk in found]


def project_with_progress(*, project: Project) -> Project:
    """One project as project_rows gives it (one query)."""
    return with_api_progress(Project.objects.filter(pk=project.pk)).get()
