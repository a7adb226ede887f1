"""Permission predicates (django-rules). Every view asks one of these, never a role inline.

Predicates take (user, object); the object is a Project unless the name says otherwise.
Reviewers see a project's material only once they have accepted its assignment; an invited
reviewer sees the invitation (title, summary, people) to decide and declare conflicts first.
"""

from __future__ import annotations

from typing import Any

import rules
from django.db.models.signals import post_delete, post_save

from reviews.enums import (
    ACTIVE_ASSIGNMENT_STATUSES,
    EDITABLE_STATUSES,
    OPEN_STATUSES,
    AssignmentStatus,
    ProjectStatus,
    Role,
)


def _active(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active)


@rules.predicate
def is_admin(user: Any) -> bool:
    return bool(_active(user) and (user.is_superuser or user.role == Role.ADMIN))


@rules.predicate
def is_researcher(user: Any) -> bool:
    return bool(_active(user) and user.role == Role.RESEARCHER)


@rules.predicate
def is_reviewer(user: Any) -> bool:
    return bool(_active(user) and user.role == Role.REVIEWER)


@rules.predicate
def is_verified(user: Any) -> bool:
    """The account's email address is confirmed and, where the board requires it
    (REGISTRATION_MODE=approval), an admin approved it."""
    return bool(_active(user) and user.email_verified_at is not None and user.approved_at is not None)


@rules.predicate
def is_project_owner(user: Any, project: Any) -> bool:
    return bool(project is not None and _active(user) and project.owner_id == user.pk)


@rules.predicate
def is_project_editable(user: Any, project: Any) -> bool:
    return project is not None and project.status in EDITABLE_STATUSES


@rules.predicate
def is_project_open(user: Any, project: Any) -> bool:
    return project is not None and project.status in OPEN_STATUSES


@rules.predicate
def is_project_approved(user: Any, project: Any) -> bool:
    return project is not None and project.status == ProjectStatus.APPROVED


@rules.predicate
def is_project_suspended(user: Any, project: Any) -> bool:
    """An upheld objection suspended the approval; an amendment or an administrator lifts it."""
    return project is not None and project.status == ProjectStatus.SUSPENDED


@rules.predicate
def is_project_submitted(user: Any, project: Any) -> bool:
    """Reviewers are assigned once there is a round to review, and until the project ends."""
    return project is not None and project.status not in {ProjectStatus.DRAFT, ProjectStatus.WITHDRAWN}


# Bumped whenever an Assignment row is saved or deleted in this process. The per-instance
# cache below is keyed by it, so a permission asked after a service changed an assignment
# (say, in the same request or test) reads the row again instead of a stale answer.
_assignment_generation = [0]


def _assignment_changed(**kwargs: Any) -> None:
    _assignment_generation[0] += 1


post_save.connect(_assignment_changed, sender="reviews.Assignment", weak=False, dispatch_uid="rules_assignment_saved")
post_delete.connect(
    _assignment_changed, sender="reviews.Assignment", weak=False, dispatch_uid="rules_assignment_deleted"
)


def _assignment(user: Any, project: Any) -> Any:
    """The user's active assignment on the project, read once per project instance until an
    assignment changes."""
    if project is None or not _active(user) or user.role != Role.REVIEWER:
        return None
    cache = project.__dict__.setdefault("_assignment_cache", {})
    generation = _assignment_generation[0]
    cached = cache.get(user.pk)
    if cached is None or cached[0] != generation:
        from reviews.models import Assignment

        cached = cache[user.pk] = (
            generation,
            Assignment.objects.filter(
                project=project, reviewer=user, status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES)
            ).first(),
        )
    return cached[1]


@rules.predicate
def is_invited_reviewer(user: Any, project: Any) -> bool:
    return _assignment(user, project) is not None


@rules.predicate
def is_accepted_reviewer(user: Any, project: Any) -> bool:
    assignment = _assignment(user, project)
    return assignment is not None and assignment.status == AssignmentStatus.ACCEPTED


@rules.predicate
def is_conflict_free_reviewer(user: Any, project: Any) -> bool:
    assignment = _assignment(user, project)
    return assignment is not None and assignment.can_sign


can_view_project = is_project_owner | is_admin | is_accepted_reviewer
# Creating, editing (uploads included) and submitting need a confirmed, approved account.
can_edit_project = is_project_owner & is_verified & is_project_editable
can_submit_project = is_project_owner & is_verified & is_project_editable
can_create_project = is_researcher & is_verified
can_withdraw_project = is_project_owner & is_project_open
# The researcher answers a suspended approval with an amendment, reviewed again.
can_amend_project = is_project_owner & (is_project_approved | is_project_suspended)
can_reinstate_project = is_admin & is_project_suspended
can_respond_assignment = is_invited_reviewer & ~is_project_owner
can_assign_reviewers = is_admin & is_project_submitted
# Reviewing, waiving and signing: an assigned reviewer who accepted and declared no conflict,
# never the project's own researcher. Round and state checks live in the services.
can_review_project = is_conflict_free_reviewer & ~is_project_owner
can_decide_project = is_admin & ~is_project_owner
can_view_catalogue = rules.is_authenticated & rules.is_active
can_manage_users = is_admin

rules.add_perm("reviews.view_project", can_view_project)
rules.add_perm("reviews.change_project", can_edit_project)
rules.add_perm("reviews.submit_project", can_submit_project)
rules.add_perm("reviews.add_project", can_create_project)
rules.add_perm("reviews.withdraw_project", can_withdraw_project)
rules.add_perm("reviews.amend_project", can_amend_project)
rules.add_perm("reviews.reinstate_project", can_reinstate_project)
rules.add_perm("reviews.manage_catalogue", is_admin)
rules.add_perm("reviews.respond_assignment", can_respond_assignment)
rules.add_perm("reviews.assign_reviewers", can_assign_reviewers)
rules.add_perm("reviews.review_project", can_review_project)
rules.add_perm("reviews.decide_project", can_decide_project)
rules.add_perm("reviews.view_catalogue", can_view_catalogue)
rules.add_perm("reviews.manage_users", can_manage_users)
