"""The lists that page through everything a user may see: projects and accounts."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, Value, When
from django.http import HttpResponse
from django.shortcuts import render

from reviews.models import User
from reviews.selectors import projects_visible_to
from reviews.views.access import AuthedRequest
from reviews.views.accounts import _require_user_admin


@login_required
def project_list(request: AuthedRequest) -> HttpResponse:
    page = Paginator(projects_visible_to(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "reviews/project_list.html", {"page": page, "projects": page.object_list})


@login_required
def user_list(request: AuthedRequest) -> HttpResponse:
    """Every account, those awaiting approval first; `?pending=1` lists only them."""
    _require_user_admin(request)
    pending_first = Case(When(approved_at__isnull=True, then=Value(0)), default=Value(1))
    accounts = User.objects.order_by(pending_first, "role", "full_name", "username")
    pending_only = request.GET.get("pending") == "1"
    if pending_only:
        accounts = accounts.filter(approved_at__isnull=True)
    page = Paginator(accounts, 100).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "users": page.object_list,
        "pending_only": pending_only,
        "pending_count": User.objects.filter(approved_at__isnull=True).count(),
    }
    return render(request, "reviews/user_list.html", context)
