"""The lists that page through everything a user may see: projects, accounts and reviews.

Each list reads its search, filters, sort order and page from the URL (reviews.filters), so a
filtered list is a bookmark, the back button returns to it, and the page links keep it. A
filter with a bad value lists nothing and says which field is wrong, with the answer 200.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from reviews.enums import ACTIVE_ASSIGNMENT_STATUSES, UNDER_REVIEW_STATUSES
from reviews.filters import AssignmentFilter, ListFilterSet, ProjectFilter, UserFilter, UserState
from reviews.models import Assignment, Round, RoundReview, User
from reviews.rules import is_admin
from reviews.selectors.projects import in_order_of, page_of_projects, projects_visible_to
from reviews.views.access import AuthedRequest
from reviews.views.accounts import _require_user_admin

PROJECTS_PER_PAGE = 50
USERS_PER_PAGE = 100
ASSIGNMENTS_PER_PAGE = 50


def _page(rows: QuerySet[Any], per_page: int, number: str | None) -> Page[Any]:
    """The page asked for; a page number past the end shows the last page, a bad one the first."""
    return Paginator(rows, per_page).get_page(number)


def _list_context(filterset: ListFilterSet, page: Page[Any], total: int) -> dict[str, Any]:
    return {
        "filter": filterset,
        "page": page,
        "active_filters": filterset.active(),
        "matching": page.paginator.count,
        "total": total,
        "filter_errors": filterset.is_bound and not filterset.is_valid(),
    }


@login_required
def project_list(request: AuthedRequest) -> HttpResponse:
    """The filters, the order, the count and the page run on bare project rows and give the
    page's ids; only those rows are then read with their progress (reviews.selectors.projects),
    so the page costs the same whatever the number of projects or answers."""
    visible = projects_visible_to(request.user)
    filterset = ProjectFilter(request.GET, queryset=visible, request=request)
    page = _page(filterset.page_rows().values_list("pk", flat=True), PROJECTS_PER_PAGE, request.GET.get("page"))
    ids = list(page.object_list)
    page.object_list = page_of_projects(request.user, ids) if ids else []
    total = visible.count() if filterset.is_filtered or not filterset.is_valid() else page.paginator.count
    context = _list_context(filterset, page, total) | {"projects": page.object_list}
    return render(request, "reviews/project_list.html", context)


@login_required
def user_list(request: AuthedRequest) -> HttpResponse:
    """Every account, those awaiting approval first; `?pending=1` (the old link) lists only them."""
    _require_user_admin(request)
    data = request.GET.copy()
    if data.pop("pending", None) == ["1"] and not data.get("state"):
        data["state"] = UserState.PENDING
    filterset = UserFilter(data, queryset=User.objects.all(), request=request)
    page = _page(filterset.page_rows(), USERS_PER_PAGE, request.GET.get("page"))
    pending_count = User.objects.filter(approved_at__isnull=True).count()
    total = User.objects.count() if filterset.is_filtered or not filterset.is_valid() else page.paginator.count
    context = _list_context(filterset, page, total) | {
        "users": page.object_list,
        "pending_only": filterset.is_valid() and filterset.form.cleaned_data.get("state") == UserState.PENDING,
        "pending_count": pending_count,
    }
    return render(request, "reviews/user_list.html", context)


def _assignment_rows(queryset: QuerySet[Assignment]) -> QuerySet[Assignment]:
    """Each assignment with the project's latest round and whether its reviewer submitted a
    review of that round: subqueries on the page's rows only. Whether it is late: _mark_late."""
    latest = Round.objects.filter(project=OuterRef("project")).order_by("-number")
    review = RoundReview.objects.filter(
        reviewer=OuterRef("reviewer"), round__project=OuterRef("project"), round__number=OuterRef("round_number")
    )
    return (
        queryset.select_related("project__owner", "reviewer")
        .annotate(round_number=Subquery(latest.values("number")[:1]))
        .annotate(review_submitted_at=Subquery(review.values("submitted_at")[:1]))
    )


def _mark_late(assignments: list[Assignment], today: date) -> list[Assignment]:
    """Set `late` on each row as overdue_assignment_q decides it (the list's "overdue" filter),
    from the row and its project as read: held (invited or accepted) past its due date, on a
    project that waits on its reviewers."""
    for assignment in assignments:
        assignment.late = (  # type: ignore[attr-defined]
            assignment.status in ACTIVE_ASSIGNMENT_STATUSES
            and assignment.due_date < today
            and assignment.project.status in UNDER_REVIEW_STATUSES
        )
    return assignments


@login_required
def review_list(request: AuthedRequest) -> HttpResponse:
    """Every reviewer's assignments, for the administrators who chase them."""
    if not is_admin(request.user):
        raise PermissionDenied("only administrators see every reviewer's assignments")
    assignments = Assignment.objects.all()
    filterset = AssignmentFilter(request.GET, queryset=assignments, request=request)
    # The page's ids on bare assignment rows; the rounds and reviews are looked up for those alone.
    page = _page(filterset.page_rows().values_list("pk", flat=True), ASSIGNMENTS_PER_PAGE, request.GET.get("page"))
    ids = list(page.object_list)
    today = timezone.localdate()
    rows = in_order_of(_assignment_rows(Assignment.objects.filter(pk__in=ids)), ids) if ids else []
    page.object_list = _mark_late(rows, today)
    total = assignments.count() if filterset.is_filtered or not filterset.is_valid() else page.paginator.count
    context = _list_context(filterset, page, total) | {"assignments": page.object_list, "today": today}
    return render(request, "reviews/review_list.html", context)
