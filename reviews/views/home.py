from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from reviews.rules import is_reviewer
from reviews.selectors import guideline_version_current, projects_visible_to, with_progress
from reviews.selectors.review import pending_invitations


def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"version": guideline_version_current()}
    if request.user.is_authenticated:
        context["projects"] = list(with_progress(projects_visible_to(request.user)[:5]))
        if is_reviewer(request.user):
            context["invitations"] = pending_invitations(request.user)
    return render(request, "home.html", context)
