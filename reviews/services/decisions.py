"""Signed decisions and the transitions they cause; withdrawal and amendments.

A signature needs the password again (checked by the form, so failures count toward the
lockout); here it is written under the project's row lock after checking the round is
still the one under review, the digest the signer saw is the round's, and the signer has
not signed it yet. The round's outcome row is unique, so a round ends exactly once.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from reviews.enums import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AMENDMENT_STATUSES,
    APPROVING_MEANINGS,
    FINAL_MEANINGS,
    OPEN_STATUSES,
    REVIEWER_MEANINGS,
    STATEMENT_REQUIRED,
    UNDER_REVIEW_STATUSES,
    Action,
    AssignmentStatus,
    EventKind,
    FinalDecision,
    Meaning,
    NotificationKind,
    Outcome,
    ProjectStatus,
    Role,
    Verdict,
)
from reviews.events import event_emit
from reviews.models import Assignment, Project, Round, RoundOutcome, RoundReview, Signature, User
from reviews.selectors.review import policy_for, policy_status
from reviews.services.activity import activity_record
from reviews.services.assignments import mark_assignment_removed
from reviews.services.chain import chain_append
from reviews.services.notifications import admins, notify
from reviews.services.review import (
    ReviewIncomplete,
    TransitionConflict,
    _signing_assignment,
    lock_project,
    lock_round_under_review,
)

_PROJECT_STATUS = {
    Outcome.APPROVED: ProjectStatus.APPROVED,
    Outcome.REJECTED: ProjectStatus.REJECTED,
    Outcome.CHANGES_REQUESTED: ProjectStatus.CHANGES_REQUESTED,
    Outcome.WITHDRAWN: ProjectStatus.WITHDRAWN,
}


def _check_statement(meaning: str, statement: str) -> str:
    statement = statement.strip()
    if meaning in STATEMENT_REQUIRED and not statement:
        raise ValueError(f"“{Meaning(meaning).label}” needs {STATEMENT_REQUIRED[Meaning(meaning)]} in writing.")
    return statement


def _check_digest(round_: Round, digest: str) -> None:
    if digest != round_.digest:
        raise TransitionConflict(
            f"The page you signed from showed a different digest than round {round_.number} has "
            f"({round_.digest[:12]}…). Nothing was signed; reload the round and check what you sign."
        )


def _open_for_signing(
    *, round_: Round, meaning: str, statement: str, digest: str, meanings: tuple[Meaning, ...]
) -> tuple[str, Project]:
    """What every signature checks first: a meaning offered to this signer, its statement, and,
    under the project's lock, that the round is still under review with the digest shown."""
    if meaning not in meanings:
        raise ValueError("Choose one of: " + ", ".join(Meaning(m).label.lower() for m in meanings) + ".")
    statement = _check_statement(meaning, statement)
    project = lock_round_under_review(round_)
    _check_digest(round_, digest)
    return statement, project


def _previous_signature(round_: Round, signer: User) -> None:
    previous = Signature.objects.filter(round=round_, signer=signer).first()
    if previous is not None:
        raise TransitionConflict(
            f"You already signed round {round_.number}: “{previous.get_meaning_display()}” at "
            f"{previous.signed_at:%Y-%m-%d %H:%M:%S} UTC. A signature is final; nothing was changed."
        )


def _write_signature(*, actor: User, project: Project, round_: Round, meaning: str, statement: str) -> Signature:
    try:
        with transaction.atomic():
            signature = chain_append(
                Signature(
                    round=round_,
                    signer=actor,
                    printed_name=actor.display_name,
                    signer_role=Role.ADMIN if actor.is_superuser else actor.role,
                    signer_expertise=actor.expertise,
                    meaning=meaning,
                    statement=statement,
                    signed_at=timezone.now(),
                    round_digest=round_.digest,
                )
            )
    except IntegrityError:
        raise TransitionConflict(f"You already signed round {round_.number}; nothing was changed.") from None
    activity_record(
        actor=actor,
        action=Action.SIGN,
        obj=signature,
        project=project,
        new={
            "round": round_.number,
            "meaning": meaning,
            "printed_name": signature.printed_name,
            "signed_at": signature.signed_at.isoformat(),
            "round_digest": round_.digest,
            "statement": statement,
            "hash": signature.hash,
        },
    )
    return signature


@transaction.atomic
def round_sign(*, actor: User, round_: Round, meaning: str, statement: str, digest: str) -> Signature:
    """A reviewer's signed decision on the round under review, and what it sets off."""
    statement, project = _open_for_signing(
        round_=round_, meaning=meaning, statement=statement, digest=digest, meanings=REVIEWER_MEANINGS
    )
    _signing_assignment(project=project, reviewer=actor)
    _previous_signature(round_, actor)
    review = RoundReview.objects.filter(round=round_, reviewer=actor, submitted_at__isnull=False).first()
    if review is None:
        raise ReviewIncomplete(["submit your review of the items before you sign a decision"])
    if meaning in APPROVING_MEANINGS:
        if review.items.filter(verdict=Verdict.MUST_CHANGE).exists():
            raise ValueError("You marked items “must change”: request changes, or sign a decision that matches.")
        if policy_status(round_).audits.state == "pending":
            raise ValueError(
                f"The audit results of round {round_.number} are still being computed; approve once they are in."
            )
    signature = _write_signature(actor=actor, project=project, round_=round_, meaning=meaning, statement=statement)
    notify(
        key=f"signed:{signature.pk}",
        recipients=admins(),
        kind=NotificationKind.SIGNED,
        project=project,
        subject=f"{signature.printed_name} signed “{signature.get_meaning_display()}” on {project.title}",
        body=f"Round {round_.number}, {signature.signed_at:%Y-%m-%d %H:%M:%S} UTC."
        + (f"\n\n{statement}" if statement else ""),
        url=round_.get_absolute_url(),
    )
    if meaning == Meaning.REQUEST_CHANGES:
        _end_round(actor=actor, project=project, round_=round_, outcome=Outcome.CHANGES_REQUESTED, reasons=statement)
    elif meaning == Meaning.REJECT:
        if policy_for(project.guideline_version_id).final_decision == FinalDecision.POLICY:
            _end_round(actor=actor, project=project, round_=round_, outcome=Outcome.REJECTED, reasons=statement)
        else:
            _ready_for_decision(
                project, round_, f"{signature.printed_name} recommends rejection.", event=f"reject:{signature.pk}"
            )
    else:
        approve_if_policy_met(project=project, round_=round_, actor=actor)
    return signature


def approve_if_policy_met(*, project: Project, round_: Round, actor: User) -> RoundOutcome | None:
    """Approve the round when its policy is met (or tell the admins, when they decide)."""
    status = policy_status(round_)
    if not status.met:
        return None
    if status.policy.final_decision == FinalDecision.ADMIN:
        _ready_for_decision(project, round_, "The sign-off policy is met.", event="policy_met")
        return None
    return _end_round(
        actor=None, project=project, round_=round_, outcome=Outcome.APPROVED, reasons=_conditions(status.counted)
    )


def _conditions(counted: list[Signature]) -> str:
    """The conditions of the counted approvals: they travel with the approval to the researcher."""
    return "\n".join(
        f"{s.printed_name}: {s.statement}" for s in counted if s.meaning == Meaning.APPROVE_WITH_CONDITIONS
    )


def _ready_for_decision(project: Project, round_: Round, why: str, *, event: str) -> None:
    notify(
        key=f"ready:{round_.pk}:{event}",
        recipients=admins(),
        kind=NotificationKind.READY_FOR_DECISION,
        project=project,
        subject=f"Final decision needed: {project.title}, round {round_.number}",
        body=f"{why} The policy reserves the final decision to an administrator.",
        url=round_.get_absolute_url(),
    )


@transaction.atomic
def round_decide(*, actor: User, round_: Round, meaning: str, statement: str, digest: str) -> Signature:
    """An administrator's signed final decision, where the policy reserves it to them."""
    statement, project = _open_for_signing(
        round_=round_, meaning=meaning, statement=statement, digest=digest, meanings=FINAL_MEANINGS
    )
    if project.owner_id == actor.pk:
        raise PermissionError("A researcher never decides on their own project.")
    if not (actor.is_active and (actor.is_superuser or actor.role == Role.ADMIN)):
        raise PermissionError("Only an administrator records the final decision.")
    if policy_for(project.guideline_version_id).final_decision != FinalDecision.ADMIN:
        raise ValueError("This guideline version's policy approves automatically; there is no final decision to sign.")
    _previous_signature(round_, actor)
    reasons = statement
    if meaning == Meaning.FINAL_APPROVE:
        status = policy_status(round_)
        unmet = [check.label for check in status.checks if not check.met]
        if unmet:
            raise ValueError("The sign-off policy is not met yet: " + "; ".join(unmet) + ".")
        reasons = "\n\n".join(part for part in (statement, _conditions(status.counted)) if part)
    signature = _write_signature(actor=actor, project=project, round_=round_, meaning=meaning, statement=statement)
    outcome = Outcome.APPROVED if meaning == Meaning.FINAL_APPROVE else Outcome.REJECTED
    _end_round(actor=actor, project=project, round_=round_, outcome=outcome, reasons=reasons)
    return signature


def _end_round(
    *, actor: User | None, project: Project, round_: Round, outcome: str, reasons: str, action: Action = Action.DECIDE
) -> RoundOutcome:
    now = timezone.now()
    try:
        with transaction.atomic():
            ended = RoundOutcome.objects.create(
                round=round_, outcome=outcome, decided_at=now, decided_by=actor, reasons=reasons
            )
    except IntegrityError:
        raise TransitionConflict(f"Round {round_.number} has already ended; nothing was changed.") from None
    old_status = project.status
    project.status = _PROJECT_STATUS[Outcome(outcome)]
    Project.objects.filter(pk=project.pk).update(status=project.status, updated_at=now)
    activity_record(
        actor=actor,
        action=action,
        obj=ended,
        project=project,
        old={"status": old_status},
        new={"status": project.status, "round": round_.number, "outcome": outcome, "reasons": reasons},
    )
    event_emit(
        event=EventKind.DECISION_MADE,
        project=project,
        data={"round": round_.number, "digest": round_.digest, "outcome": outcome, "status": project.status},
    )
    _notify_outcome(project, round_, ended)
    return ended


_OUTCOME_NOTICE = {
    Outcome.APPROVED: (NotificationKind.APPROVED, "approved"),
    Outcome.REJECTED: (NotificationKind.REJECTED, "rejected"),
    Outcome.CHANGES_REQUESTED: (NotificationKind.CHANGES_REQUESTED, "returned with requested changes"),
    Outcome.WITHDRAWN: (NotificationKind.WITHDRAWN, "withdrawn"),
}


def _notify_outcome(project: Project, round_: Round, ended: RoundOutcome) -> None:
    kind, verb = _OUTCOME_NOTICE[Outcome(ended.outcome)]
    # The reasons are review material: only reviewers who accepted read them. A withdrawal
    # also tells those still invited that there is nothing left to review.
    statuses = ACTIVE_ASSIGNMENT_STATUSES if ended.outcome == Outcome.WITHDRAWN else {AssignmentStatus.ACCEPTED}
    reviewers = [
        a.reviewer
        for a in Assignment.objects.filter(project=project, status__in=sorted(statuses)).select_related("reviewer")
    ]
    if ended.outcome == Outcome.CHANGES_REQUESTED and ended.decided_by is not None:
        # The other reviewers hear it in their own words (_tell_other_reviewers), once.
        reviewers = [reviewer for reviewer in reviewers if reviewer.pk == ended.decided_by_id]
        _tell_other_reviewers(project, round_, ended)
    people = [project.owner, *reviewers, *admins()]
    if ended.outcome == Outcome.WITHDRAWN:
        people = [*reviewers, *admins()]
    notify(
        key=f"outcome:{round_.pk}",
        recipients=people,
        kind=kind,
        project=project,
        subject=f"{project.title}: round {round_.number} {verb}",
        body=(f"Round {round_.number} was {verb} at {ended.decided_at:%Y-%m-%d %H:%M:%S} UTC.")
        + (f"\n\n{ended.reasons}" if ended.reasons else ""),
        url=round_.get_absolute_url(),
    )


def _tell_other_reviewers(project: Project, round_: Round, ended: RoundOutcome) -> None:
    """One reviewer's change request ends the round for all (the policy): every other reviewer
    is told that nothing more is needed from them on it, and an invitation not yet answered is
    withdrawn, since the round it was for is over (an administrator may invite again)."""
    requester = ended.decided_by
    name = requester.display_name if requester is not None else "A reviewer"
    when = f"{ended.decided_at:%Y-%m-%d %H:%M:%S} UTC"
    others = Assignment.objects.filter(project=project, status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES)).exclude(
        reviewer_id=ended.decided_by_id
    )
    accepted = []
    for assignment in others.select_for_update(of=("self",), no_key=True).select_related("reviewer"):
        if assignment.status == AssignmentStatus.ACCEPTED:
            accepted.append(assignment.reviewer)
            continue
        _withdraw_invitation(project, round_, assignment, f"{name} requested changes at {when}")
    notify(
        key=f"round-closed:{round_.pk}",
        recipients=accepted,
        kind=NotificationKind.CHANGES_REQUESTED,
        project=project,
        subject=f"{project.title}: round {round_.number} closed by {name}'s change request",
        body=(
            f"{name} requested changes at {when}, which ends round {round_.number} for every reviewer. "
            "Nothing more is needed from you on this round; what you had not submitted stays private. "
            f"You will be told when the researcher submits round {round_.number + 1}."
        )
        + (f"\n\n{ended.reasons}" if ended.reasons else ""),
        url=reverse("round-review", kwargs={"pk": project.pk, "number": round_.number}),
    )


def _withdraw_invitation(project: Project, round_: Round, assignment: Assignment, why: str) -> None:
    reason = (
        f"Round {round_.number} closed before you answered: {why}. The invitation no longer stands; "
        "nothing is needed from you. An administrator may invite you again for the revised round."
    )
    mark_assignment_removed(actor=None, project=project, assignment=assignment, reason=reason)
    notify(
        key=f"invitation-withdrawn:{assignment.pk}",
        recipients=[assignment.reviewer],
        kind=NotificationKind.REMOVED,
        project=project,
        subject=f"Review invitation withdrawn: {project.title}",
        body=reason,
        url=reverse("assignment-respond", kwargs={"pk": project.pk}),
    )


@transaction.atomic
def project_withdraw(*, actor: User, project: Project, reason: str) -> Project:
    locked = lock_project(project)
    if locked.status not in OPEN_STATUSES:
        raise TransitionConflict(f"This project is {locked.get_status_display().lower()} and cannot be withdrawn.")
    latest = locked.rounds.order_by("-number").first()
    if latest is not None and locked.status in UNDER_REVIEW_STATUSES:
        _end_round(
            actor=actor,
            project=locked,
            round_=latest,
            outcome=Outcome.WITHDRAWN,
            reasons=reason.strip(),
            action=Action.WITHDRAW,
        )
    else:
        _set_status(actor=actor, project=locked, status=ProjectStatus.WITHDRAWN, action=Action.WITHDRAW, reason=reason)
    return locked


def _set_status(*, actor: User, project: Project, status: ProjectStatus, action: Action, reason: str) -> None:
    """Move a locked project to `status` outside any round, the reason in the activity log."""
    old_status = project.status
    project.status = status
    project.save(update_fields=["status", "updated_at"])
    activity_record(
        actor=actor,
        action=action,
        obj=project,
        project=project,
        old={"status": old_status},
        new={"status": project.status, "reason": reason.strip()},
    )


def _emit_approval_change(*, project: Project, outcome: str) -> None:
    """decision.made when the board suspends or reinstates an approval: whether it stands
    changes as much as at the end of a round. The event is about the approved round (the
    latest; suspending needs an approval that stands, so there is one)."""
    approved = Round.objects.filter(project=project, outcome__outcome=Outcome.APPROVED).order_by("-number").first()
    if approved is None:
        return
    event_emit(
        event=EventKind.DECISION_MADE,
        project=project,
        data={"round": approved.number, "digest": approved.digest, "outcome": outcome, "status": project.status},
    )


# An amendment reopens an approved project, and is how a researcher answers a suspension.
AMENDABLE_STATUSES = frozenset({ProjectStatus.APPROVED, ProjectStatus.SUSPENDED})
# The approval stands in these, so it can be suspended (an amendment in preparation included:
# reinstating returns it to approved, and the researcher may open the amendment again).
SUSPENDABLE_STATUSES = frozenset({ProjectStatus.APPROVED, ProjectStatus.AMENDMENT})
# An amendment's round is submitted, in review or sent back for changes: its decision replaces
# the approval, so a suspension would fight the review (and reinstating would lose the round).
AMENDMENT_UNDER_REVIEW_STATUSES = AMENDMENT_STATUSES - {ProjectStatus.AMENDMENT}


@transaction.atomic
def project_amend(*, actor: User, project: Project, reason: str) -> Project:
    """Reopen an approved (or suspended) project for an amendment; its next submission is reviewed again.

    The reason is required and goes into the activity log's entry (hash-chained), so the
    project's history says why the approved project was reopened.
    """
    reason = reason.strip()
    if not reason:
        raise ValueError("Say why the project is amended.")
    locked = lock_project(project)
    if locked.status not in AMENDABLE_STATUSES:
        raise TransitionConflict(
            "Only an approved project, or one whose approval is suspended, can be amended; "
            f"this one is {locked.get_status_display().lower()}."
        )
    _set_status(actor=actor, project=locked, status=ProjectStatus.AMENDMENT, action=Action.AMEND, reason=reason)
    return locked


@transaction.atomic
def project_suspend(*, actor: User, project: Project, reason: str) -> Project:
    """Suspend the approval of a project (an upheld objection): the register and the project
    page say so until an administrator reinstates it or an amendment is approved.

    From an amendment in preparation too, since its approval still stands; reinstating
    returns to approved (the researcher may open the amendment again).
    """
    reason = reason.strip()
    if not reason:
        raise ValueError("Say why the approval is suspended.")
    locked = lock_project(project)
    if locked.status in AMENDMENT_UNDER_REVIEW_STATUSES:
        raise TransitionConflict(
            f"An amendment of this project is under review ({locked.get_status_display().lower()}): its decision "
            "replaces the approval. Uphold with the amendment remedy, or wait for the decision."
        )
    if locked.status not in SUSPENDABLE_STATUSES:
        raise TransitionConflict(
            f"Only an approval that stands can be suspended; this project is {locked.get_status_display().lower()}."
        )
    _set_status(actor=actor, project=locked, status=ProjectStatus.SUSPENDED, action=Action.SUSPEND, reason=reason)
    _emit_approval_change(project=locked, outcome="suspended")
    notify(
        key=f"suspended:{locked.pk}:{locked.updated_at.isoformat()}",
        recipients=[locked.owner, *admins()],
        kind=NotificationKind.SUSPENDED,
        project=locked,
        subject=f"{locked.title}: approval suspended",
        body=f"The approval of {locked.title} is suspended.\n\n{reason}\n\n"
        "Open an amendment to answer it; the next round is reviewed again.",
        url=reverse("project-detail", kwargs={"pk": locked.pk}),
    )
    return locked


@transaction.atomic
def project_reinstate(*, actor: User, project: Project, reason: str) -> Project:
    """An administrator lifts a suspension: the project is approved again, as it was."""
    reason = reason.strip()
    if not reason:
        raise ValueError("Say why the approval is reinstated.")
    locked = lock_project(project)
    if locked.status != ProjectStatus.SUSPENDED:
        raise TransitionConflict(
            f"Only a suspended approval can be reinstated; this project is {locked.get_status_display().lower()}."
        )
    _set_status(actor=actor, project=locked, status=ProjectStatus.APPROVED, action=Action.REINSTATE, reason=reason)
    _emit_approval_change(project=locked, outcome="reinstated")
    notify(
        key=f"reinstated:{locked.pk}:{locked.updated_at.isoformat()}",
        recipients=[locked.owner, *admins()],
        kind=NotificationKind.REINSTATED,
        project=locked,
        subject=f"{locked.title}: approval reinstated",
        body=f"The approval of {locked.title} is reinstated.\n\n{reason}",
        url=reverse("project-detail", kwargs={"pk": locked.pk}),
    )
    return locked


def notify_resubmission(*, project: Project, round_: Round) -> None:
    """Called by project_submit for rounds after the first: the reviewers who accepted review
    again (one still invited answers the invitation first, and is reminded of it)."""
    accepted = Assignment.objects.filter(project=project, status=AssignmentStatus.ACCEPTED)
    # Each round is reviewed in the policy's time from its submission, not from the first invitation.
    due = timezone.localdate() + timedelta(days=policy_for(project.guideline_version_id).review_days)
    accepted.filter(due_date__lt=due).update(due_date=due)
    reviewers = [a.reviewer for a in accepted.select_related("reviewer")]
    notify(
        key=f"resubmitted:{round_.pk}",
        recipients=[*reviewers, *admins()],
        kind=NotificationKind.RESUBMITTED,
        project=project,
        subject=f"{project.title}: round {round_.number} submitted",
        body=f"{project.owner.display_name} submitted round {round_.number}; your review is due {due:%d %B %Y}. "
        f"See what changed since round {round_.number - 1}: your review starts from your round {round_.number - 1} "
        "verdicts, with the changed items marked for you to decide again.",
        url=reverse("round-diff", kwargs={"pk": project.pk, "number": round_.number}),
    )


def open_rounds_recheck(*, version_id: int, actor: User) -> list[RoundOutcome]:
    """After an admin changes a version's sign-off policy, end the open rounds that now meet
    it (approval is otherwise checked only when someone signs or waives, and everyone may
    already have signed). Each project is locked in turn, as any transition does."""
    ended: list[RoundOutcome] = []
    open_projects = Project.objects.filter(
        guideline_version_id=version_id, status__in=sorted(UNDER_REVIEW_STATUSES)
    ).values_list("pk", flat=True)
    for project_pk in list(open_projects):
        with transaction.atomic():
            project = lock_project(project_pk)
            round_ = project.rounds.order_by("-number").first()
            if project.status not in UNDER_REVIEW_STATUSES or round_ is None or hasattr(round_, "outcome"):
                continue
            outcome = approve_if_policy_met(project=project, round_=round_, actor=actor)
            if outcome is not None:
                ended.append(outcome)
    return ended
