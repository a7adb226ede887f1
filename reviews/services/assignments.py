"""Assignments: an admin invites reviewers, who accept (declaring conflicts) or decline;
admins remove and reassign. Each function locks the project row and re-checks the
assignment's state under that lock (see reviews.services.review)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from reviews.enums import (
    ACTIVE_ASSIGNMENT_STATUSES,
    Action,
    AssignmentStatus,
    NotificationKind,
    ProjectStatus,
    Role,
)
from reviews.models import Assignment, Project, User
from reviews.selectors.review import policy_for
from reviews.services.activity import activity_record
from reviews.services.notifications import admins, notify
from reviews.services.review import TransitionConflict, active_assignment, lock_project


def _no_invitation(*, project: Project, reviewer: User) -> str:
    """Why a reviewer without an active assignment cannot respond: they declined, or were removed."""
    last = Assignment.objects.filter(project=project, reviewer=reviewer).order_by("-assigned_at", "-pk").first()
    if last is not None and last.status == AssignmentStatus.DECLINED:
        return "You already declined this invitation."
    return "This invitation was withdrawn by an administrator."


@transaction.atomic
def assignment_create(*, actor: User, project: Project, reviewer: User, due_date: date | None = None) -> Assignment:
    locked = lock_project(project)
    if locked.status in {ProjectStatus.DRAFT, ProjectStatus.WITHDRAWN}:
        raise TransitionConflict(f"This project is {locked.get_status_display().lower()}: nobody can be assigned.")
    if reviewer.role != Role.REVIEWER or not reviewer.is_active:
        raise ValueError(f"{reviewer.display_name} is not an active reviewer.")
    if reviewer.pk == locked.owner_id:
        raise ValueError("A researcher is never assigned to their own project.")
    if active_assignment(project=locked, reviewer=reviewer) is not None:
        raise TransitionConflict(f"{reviewer.display_name} is already assigned to this project.")
    policy = policy_for(locked.guideline_version)
    due = due_date or timezone.localdate() + timedelta(days=policy.review_days)
    if due < timezone.localdate():
        raise ValueError("The due date is in the past.")
    try:
        with transaction.atomic():
            assignment = Assignment.objects.create(project=locked, reviewer=reviewer, assigned_by=actor, due_date=due)
    except IntegrityError:
        raise TransitionConflict(f"{reviewer.display_name} is already assigned to this project.") from None
    activity_record(
        actor=actor,
        action=Action.ASSIGN,
        obj=assignment,
        project=locked,
        new={"reviewer": reviewer.display_name, "expertise": reviewer.expertise, "due_date": due.isoformat()},
    )
    notify(
        key=f"assigned:{assignment.pk}",
        recipients=[reviewer],
        kind=NotificationKind.ASSIGNED,
        project=locked,
        subject=f"Review invitation: {locked.title}",
        body=(
            f"{actor.display_name} asks you to review “{locked.title}” by {locked.owner.display_name}, "
            f"due {due:%d %B %Y}. Accept or decline, and declare any conflict of interest, before you see "
            "the material."
        ),
        url=reverse("assignment-respond", kwargs={"pk": locked.pk}),
    )
    return assignment


@transaction.atomic
def assignment_respond(
    *, actor: User, project: Project, accept: bool, conflict_statement: str = "", decline_reason: str = ""
) -> Assignment:
    """Accept (declaring a conflict or none) or decline an invitation."""
    locked = lock_project(project)
    if locked.status in {ProjectStatus.WITHDRAWN, ProjectStatus.REJECTED}:
        raise TransitionConflict(
            f"This project is {locked.get_status_display().lower()}; the invitation no longer stands. Nothing was saved."
        )
    assignment = active_assignment(project=locked, reviewer=actor, lock=True)
    if assignment is None:
        raise TransitionConflict(_no_invitation(project=locked, reviewer=actor))
    if assignment.status != AssignmentStatus.INVITED:
        raise TransitionConflict(f"You already {assignment.get_status_display().lower()} this invitation.")
    now = timezone.now()
    conflict = conflict_statement.strip()
    assignment.responded_at = now
    # A conflict is recorded whichever the answer: declining because of one is still a declaration.
    assignment.has_conflict = bool(conflict)
    assignment.conflict_statement = conflict
    assignment.conflict_declared_at = now if conflict else None
    if accept:
        assignment.status = AssignmentStatus.ACCEPTED
    else:
        assignment.status = AssignmentStatus.DECLINED
        assignment.decline_reason = decline_reason.strip()
    assignment.save()
    old_status = locked.status
    if accept and locked.status == ProjectStatus.SUBMITTED:
        locked.status = ProjectStatus.IN_REVIEW
        Project.objects.filter(pk=locked.pk).update(status=locked.status, updated_at=now)
    activity_record(
        actor=actor,
        action=Action.RESPOND,
        obj=assignment,
        project=locked,
        old={"status": AssignmentStatus.INVITED, "project_status": old_status},
        new={
            "status": assignment.status,
            "conflict": conflict,
            "decline_reason": assignment.decline_reason,
            "project_status": locked.status,
        },
    )
    verb = "accepted" if accept else "declined"
    notify(
        key=f"responded:{assignment.pk}",
        recipients=admins(),
        kind=NotificationKind.CONFLICT if conflict else NotificationKind.RESPONDED,
        project=locked,
        subject=f"{actor.display_name} {verb} the review of {locked.title}"
        + (" and declared a conflict" if conflict else ""),
        body=(f"Conflict of interest: {conflict}\nThey cannot sign; consider reassigning." if conflict else "")
        or (f"Reason: {assignment.decline_reason}" if assignment.decline_reason else f"They {verb}."),
        url=reverse("assignment-list", kwargs={"pk": locked.pk}),
    )
    return assignment


@transaction.atomic
def assignment_declare_conflict(*, actor: User, project: Project, statement: str) -> Assignment:
    """A conflict found after accepting: from now on the reviewer cannot sign."""
    statement = statement.strip()
    if not statement:
        raise ValueError("Describe the conflict of interest.")
    locked = lock_project(project)
    assignment = active_assignment(project=locked, reviewer=actor, lock=True)
    if assignment is None or assignment.status != AssignmentStatus.ACCEPTED:
        raise TransitionConflict("You have no accepted assignment on this project.")
    if assignment.has_conflict:
        raise TransitionConflict("You have already declared a conflict on this project.")
    assignment.has_conflict, assignment.conflict_statement = True, statement
    assignment.conflict_declared_at = timezone.now()
    assignment.save(update_fields=["has_conflict", "conflict_statement", "conflict_declared_at"])
    activity_record(
        actor=actor,
        action=Action.CHANGE,
        obj=assignment,
        project=locked,
        old={"conflict": ""},
        new={"conflict": statement},
    )
    notify(
        key=f"conflict:{assignment.pk}",
        recipients=admins(),
        kind=NotificationKind.CONFLICT,
        project=locked,
        subject=f"{actor.display_name} declared a conflict on {locked.title}",
        body=f"Conflict of interest: {statement}\nThey cannot sign; consider reassigning.",
        url=reverse("assignment-list", kwargs={"pk": locked.pk}),
    )
    return assignment


def mark_assignment_removed(*, actor: User | None, project: Project, assignment: Assignment, reason: str) -> None:
    """End an assignment (locked by the caller) with its reason, in the activity log; the caller
    tells the reviewer in its own words."""
    old_status = assignment.status
    assignment.status, assignment.removed_reason = AssignmentStatus.REMOVED, reason
    assignment.save(update_fields=["status", "removed_reason"])
    activity_record(
        actor=actor,
        action=Action.CHANGE,
        obj=assignment,
        project=project,
        old={"status": old_status},
        new={"status": assignment.status, "reason": reason},
    )


@transaction.atomic
def assignment_remove(*, actor: User, assignment: Assignment, reason: str) -> Assignment:
    reason = reason.strip()
    if not reason:
        raise ValueError("Say why the reviewer is removed.")
    locked = lock_project(assignment.project_id)
    current = (
        Assignment.objects.select_for_update(of=("self",), no_key=True).select_related("reviewer").get(pk=assignment.pk)
    )
    if current.status not in ACTIVE_ASSIGNMENT_STATUSES:
        raise TransitionConflict(
            f"{current.reviewer.display_name}'s assignment is already {current.get_status_display().lower()}."
        )
    mark_assignment_removed(actor=actor, project=locked, assignment=current, reason=reason)
    notify(
        key=f"removed:{current.pk}",
        recipients=[current.reviewer],
        kind=NotificationKind.REMOVED,
        project=locked,
        subject=f"You were removed from the review of {locked.title}",
        body=f"{actor.display_name} removed you from this review. Reason: {reason}",
        url=reverse("my-reviews"),
    )
    return current
