"""The pages' one rule, for the API: a project the user may not see is 404, one they may see
but not change is 403 with the reason (reviews.views.access.get_project, the same code)."""

from __future__ import annotations

from rest_framework.request import Request

from reviews.models import Project
from reviews.views.access import get_project


def project_for(request: Request, pk: int, *, perm: str | None = None) -> Project:
    request.user  # noqa: B018 (authenticates, which also sets the user on the Django request)
    return get_project(request._request, pk, perm=perm)
