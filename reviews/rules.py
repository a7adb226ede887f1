"""Permission predicates (django-rules). Every view asks one of these, never a role inline.

Predicates take (user, object); the object is a Project unless the name says otherwise.
Reviewers see projects only once assignments exist (issue 4); until then only the
owner and admins see a project.
"""

from __future__ import annotations

from typing import Any

import rules

from reviews.enums import EDITABLE_STATUSES, Role


@rules.predicate
def is_admin(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.is_superuser or user.role == Role.ADMIN))


@rules.predicate
def is_researcher(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role == Role.RESEARCHER)


@rules.predicate
def is_reviewer(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role == Role.REVIEWER)


@rules.predicate
def is_project_owner(user: Any, project: Any) -> bool:
    return bool(project is not None and user.is_authenticated and user.is_active and project.owner_id == user.pk)


@rules.predicate
def is_project_editable(user: Any, project: Any) -> bool:
    return project is not None and project.status in EDITABLE_STATUSES


can_view_project = is_project_owner | is_admin
can_edit_project = is_project_owner & is_project_editable
can_submit_project = is_project_owner & is_project_editable
can_create_project = is_researcher
can_view_catalogue = rules.is_authenticated & rules.is_active
can_manage_users = is_admin

rules.add_perm("reviews.view_project", can_view_project)
rules.add_perm("reviews.change_project", can_edit_project)
rules.add_perm("reviews.submit_project", can_submit_project)
rules.add_perm("reviews.add_project", can_create_project)
rules.add_perm("reviews.view_catalogue", can_view_catalogue)
rules.add_perm("reviews.manage_users", can_manage_users)
