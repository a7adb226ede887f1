from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from reviews.rules import is_reviewer
from reviews.selectors import guideline_version_current
from reviews.selectors.projects import page_of_projects, projects_visible_to
from reviews.selectors.review import pending_invitations


def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"version": guideline_version_current()}
    if request.user.is_authenticated:
        # The five newest ids first, on bare rows; then only those five with their progress.
        ids = list(projects_visible_to(request.user).values_list("pk", flat=True)[:5])
        context["projects"] = page_of_projects(request.user, ids) if ids else []
        if is_reviewer(request.user):
            context["invitations"] = pending_invitations(request.user)
    return render(request, "home.html", context)
