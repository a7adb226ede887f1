"""The pages' one rule, for the API: a project the user may not see is 404, one they may see
but not change is 403 with the reason (reviews.views.access.get_project, the same code)."""

from __future__ import annotations

from django.http import Http404
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from reviews.models import Project
from reviews.views.access import get_project


def project_for(request: Request, pk: int, *, perm: str | None = None) -> Project:
    request.user  # noqa: B018 (authenticates, which also sets the user on the Django request)
    try:
        return get_project(request._request, pk, perm=perm)
    except Http404:
        # The same body for a project that does not exist and one the user may not see (the
        # pages' 404 page shows neither message; DRF would put each in "detail"). The
        # request cap's refusal of an upload before its body is read says the same.
        raise NotFound("No such project.") from None
