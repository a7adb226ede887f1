"""One rule for every object view: 404 for what the user may not see, 403 for what they
may see but not change. Objects inside a project (answers, files, rounds) are looked up
within the project that this check returned, so an id smuggled from another project is
simply not found."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from reviews.enums import ProjectStatus
from reviews.middleware import log_denial
from reviews.models import Project, User


class AuthedRequest(HttpRequest):
    """The request of a login_required view: its user is a real account."""

    user: User  # type: ignore[assignment]


def _why_read_only(project: Project) -> str:
    if project.status == ProjectStatus.APPROVED:
        return "open an amendment to change it"
    if project.status == ProjectStatus.SUSPENDED:
        return "its approval is suspended; open an amendment to answer the suspension"
    if project.status in {ProjectStatus.REJECTED, ProjectStatus.WITHDRAWN}:
        return "it can no longer change"
    return "it is read-only until reviewers request changes"


def get_project(request: HttpRequest, pk: int, *, perm: str | None = None) -> Project:
    queryset = Project.objects.select_related("owner", "guideline_version__guideline_set")
    project = get_object_or_404(queryset, pk=pk)
    if not request.user.has_perm("reviews.view_project", project):
        # Answered as if it did not exist, but a denial all the same: probing is in the denial log.
        log_denial(request, 404, f"project {project.pk} exists but is not visible to this user")
        raise Http404("No such project")
    if perm is not None and not request.user.has_perm(perm, project):
        if project.owner_id == request.user.pk and not project.is_editable:
            raise PermissionDenied(f"this project is {project.get_status_display().lower()}: {_why_read_only(project)}")
        raise PermissionDenied("only the project's researcher can change it")
    return project
