"""Assignments, item reviews and audit waivers: the reviewer's work before a decision.

Every function here locks the project row and re-checks, under that lock, what the page
was loaded with (the round, the assignment's state), so two requests at once give one
effect and a TransitionConflict naming what happened instead.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from reviews.enums import (
    ACTIVE_ASSIGNMENT_STATUSES,
    UNDER_REVIEW_STATUSES,
    Action,
    AssignmentStatus,
    AuditKind,
    EvaluationPhase,
    OverclaimFinding,
    Verdict,
)
from reviews.models import (
    Assignment,
    AuditWaiver,
    GuidelineItem,
    ItemReview,
    Project,
    Round,
    RoundReview,
    User,
)
from reviews.models.review import ReviewDraft
from reviews.selectors.review import WAIVABLE, bound_audits, policy_status
from reviews.services.activity import activity_record
from reviews.validators import LONG_TEXT


class TransitionConflict(Exception):
    """The project, round or assignment moved on since the page was loaded; nothing was changed."""


class ReviewIncomplete(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def lock_project(project: Project | int) -> Project:
    pk = project.pk if isinstance(project, Project) else project
    return (
        Project.objects.select_for_update(of=("self",), no_key=True)
        .select_related("owner", "guideline_version")
        .get(pk=pk)
    )


def lock_round_under_review(round_: Round) -> Project:
    """Lock the round's project and check the round is the one reviewers act on now."""
    project = lock_project(round_.project_id)
    latest = project.rounds.order_by("-number").values_list("number", flat=True).first()
    if latest != round_.number:
        raise TransitionConflict(
            f"Round {round_.number} is no longer under review: the researcher has since submitted round {latest}. "
            "Nothing was saved; open the new round."
        )
    if project.status not in UNDER_REVIEW_STATUSES:
        outcome = getattr(Round.objects.filter(pk=round_.pk).select_related("outcome").first(), "outcome", None)
        detail = (
            f"{outcome.get_outcome_display().lower()} at {outcome.decided_at:%Y-%m-%d %H:%M:%S} UTC"
            if outcome is not None
            else project.get_status_display().lower()
        )
        raise TransitionConflict(f"Round {round_.number} is closed ({detail}). Nothing was saved.")
    return project


def active_assignment(*, project: Project, reviewer: User, lock: bool = False) -> Assignment | None:
    rows = Assignment.objects.filter(project=project, reviewer=reviewer, status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES))
    return (rows.select_for_update(no_key=True) if lock else rows).first()


def _signing_assignment(*, project: Project, reviewer: User) -> Assignment:
    """The reviewer's accepted, conflict-free assignment, or the reason they may not act."""
    if project.owner_id == reviewer.pk:
        raise PermissionError("A researcher never reviews or signs their own project.")
    assignment = active_assignment(project=project, reviewer=reviewer, lock=True)
    if assignment is None:
        raise TransitionConflict("You are no longer assigned to this project. Nothing was saved.")
    if assignment.status != AssignmentStatus.ACCEPTED:
        raise TransitionConflict("Accept the assignment before reviewing. Nothing was saved.")
    if assignment.has_conflict:
        raise TransitionConflict(
            "You declared a conflict of interest on this project, so you cannot review or sign it. "
            "An administrator can reassign the review."
        )
    return assignment


# ---- the review of a round -----------------------------------------------------------------


@dataclass
class VerdictInput:
    item: GuidelineItem
    verdict: str  # a Verdict value, or "" for not yet decided
    comment: str


@transaction.atomic
def round_review_save(
    *,
    actor: User,
    round_: Round,
    verdicts: list[VerdictInput],
    declared_phase: int | None,
    overclaim: str,
    overclaim_note: str,
    submit: bool,
) -> RoundReview:
    """Save a reviewer's verdicts and overclaim check; with submit, freeze them.

    Once submitted, the review shows to the other reviewers and cannot change in this round.
    """
    overclaim_note = overclaim_note.strip()
    _check_overclaim(declared_phase=declared_phase, overclaim=overclaim, overclaim_note=overclaim_note)
    project = lock_round_under_review(round_)
    _signing_assignment(project=project, reviewer=actor)
    review, _created = RoundReview.objects.select_for_update(no_key=True).get_or_create(round=round_, reviewer=actor)
    if review.is_submitted:
        raise TransitionConflict(
            f"You submitted your review of round {round_.number} at {review.submitted_at:%Y-%m-%d %H:%M:%S} UTC; "
            "it can no longer change."
        )
    items = {item.pk for item in GuidelineItem.objects.filter(version=round_.guideline_version_id)}
    existing = {row.item_id: row for row in review.items.all()}
    seen: set[int] = set()
    for entry in verdicts:
        if entry.item.pk not in items:
            raise ValueError(f"{entry.item.code} is not an item of this round's guideline version.")
        if entry.item.pk in seen:
            raise ValueError(f"{entry.item.code} has two verdicts; give one.")
        seen.add(entry.item.pk)
        if entry.verdict and entry.verdict not in Verdict.values:
            raise ValueError(f"{entry.item.code}: choose acceptable, concern or must change.")
        comment = entry.comment.strip()
        row = existing.get(entry.item.pk)
        if not entry.verdict:
            if row is not None:
                row.delete()
            continue
        if entry.verdict != Verdict.ACCEPTABLE and not comment:
            raise ValueError(f"{entry.item.code}: say what the concern is or what must change.")
        if row is None:
            ItemReview.objects.create(review=review, item=entry.item, verdict=entry.verdict, comment=comment)
        elif (row.verdict, row.comment) != (entry.verdict, comment):
            row.verdict, row.comment = entry.verdict, comment
            row.save(update_fields=["verdict", "comment"])
    review.declared_phase = declared_phase
    review.overclaim, review.overclaim_note = overclaim, overclaim_note
    if submit:
        problems = _review_problems(review, total=len(items))
        if problems:
            raise ReviewIncomplete(problems)
        review.submitted_at = timezone.now()
    review.save()
    if submit:  # the submitted review replaces the draft; nothing private is left behind
        ReviewDraft.objects.filter(round=round_, reviewer=actor).delete()
    if submit:
        counts = {verdict: review.items.filter(verdict=verdict).count() for verdict in Verdict.values}
        activity_record(
            actor=actor,
            action=Action.REVIEW,
            obj=review,
            project=project,
            new={"round": round_.number, **counts, "overclaim": review.overclaim, "declared_phase": declared_phase},
        )
    return review


# The longest text a draft keeps per field: the review form's own limit.
DRAFT_TEXT_LIMIT = LONG_TEXT


@transaction.atomic
def review_draft_save(
    *, actor: User, round_: Round, fields: Mapping[str, Any], only: Collection[str] | None = None
) -> ReviewDraft:
    """Keep what the reviewer typed on the review page, as typed, until they submit.

    Only the review form's fields are kept (other posted names are ignored, so the page may
    send its whole form); a value no form field could hold is refused with the field named.
    With `only` (the fields the reviewer changed on that page), an existing draft takes just
    those: an autosave from a second tab does not undo what the first tab saved in other
    fields. Like every review write, it needs the round still open and the reviewer's
    accepted, conflict-free assignment; a submitted review has no draft.
    """
    project = lock_round_under_review(round_)
    _signing_assignment(project=project, reviewer=actor)
    submitted = RoundReview.objects.filter(round=round_, reviewer=actor, submitted_at__isnull=False).first()
    if submitted is not None and submitted.submitted_at is not None:
        raise TransitionConflict(
            f"You submitted your review of round {round_.number} at {submitted.submitted_at:%Y-%m-%d %H:%M:%S} UTC; "
            "there is no draft to save."
        )
    data = _draft_data(round_, fields)
    draft = ReviewDraft.objects.select_for_update().filter(round=round_, reviewer=actor).first()
    if draft is None:
        return ReviewDraft.objects.create(round=round_, reviewer=actor, data=data)
    if only is not None:
        data = {**draft.data, **{name: value for name, value in data.items() if name in set(only)}}
    draft.data = data
    draft.save(update_fields=["data", "saved_at"])
    return draft


def _draft_data(round_: Round, fields: Mapping[str, Any]) -> dict[str, str]:
    codes = GuidelineItem.objects.filter(version=round_.guideline_version_id).values_list("code", flat=True)
    data: dict[str, str] = {}
    for code in codes:
        verdict = str(fields.get(f"verdict_{code}") or "")
        if verdict and verdict not in Verdict.values:
            raise ValueError(f"{code}: choose acceptable, concern or must change.")
        data[f"verdict_{code}"] = verdict
        data[f"comment_{code}"] = _draft_text(fields.get(f"comment_{code}"), f"The comment on {code}")
    phase = str(fields.get("declared_phase") or "")
    if phase and phase not in {str(value) for value in EvaluationPhase.values}:
        raise ValueError("Choose the evaluation phase the project declares (EV-1), from 1 to 5.")
    overclaim = str(fields.get("overclaim") or "")
    if overclaim and overclaim not in OverclaimFinding.values:
        raise ValueError("Choose whether the claims stay within the declared phase.")
    data["declared_phase"], data["overclaim"] = phase, overclaim
    data["overclaim_note"] = _draft_text(fields.get("overclaim_note"), "The note on the claims")
    return data


def _draft_text(value: Any, name: str) -> str:
    text = str(value or "")
    if "\x00" in text:  # PostgreSQL keeps no NUL in text or JSON; the form refuses it too
        raise ValueError(f"{name} contains a null character; remove it.")
    if len(text) > DRAFT_TEXT_LIMIT:
        raise ValueError(f"{name} is longer than {DRAFT_TEXT_LIMIT:,} characters; shorten it.")
    return text


def _check_overclaim(*, declared_phase: int | None, overclaim: str, overclaim_note: str) -> None:
    """What the database would refuse (or store as nonsense), refused with a sentence instead."""
    if declared_phase is not None and declared_phase not in EvaluationPhase.values:
        raise ValueError("Choose the evaluation phase the project declares (EV-1), from 1 to 5.")
    if overclaim and overclaim not in OverclaimFinding.values:
        raise ValueError("Choose whether the claims stay within the declared phase.")
    if overclaim == OverclaimFinding.OVERCLAIM and not overclaim_note:
        raise ValueError("Say which claims go beyond the evidence (EV-10, OV-2).")


def _review_problems(review: RoundReview, *, total: int) -> list[str]:
    problems = []
    given = review.items.count()
    if given < total:
        problems.append(f"{total - given} item(s) have no verdict yet")
    if review.declared_phase is None:
        problems.append("the overclaim check needs the evaluation phase the project declares (EV-1)")
    if not review.overclaim:
        problems.append("the overclaim check needs your finding on the claims (EV-10, OV-2)")
    return problems


@transaction.atomic
def audit_waive(*, actor: User, round_: Round, audit: str, reason: str, status: str) -> AuditWaiver:
    """Accept a failed or uncomputable audit for this round, with a written reason.

    `status` is the audit's status the reviewer saw (PolicyStatus.status_of); it is checked
    against the round's bound results here, under the lock, and the waiver records the
    status read here, so a passing audit cannot be waived by claiming it failed.
    """
    from reviews.services.decisions import approve_if_policy_met

    reason = reason.strip()
    if not reason:
        raise ValueError("A waiver needs a written reason.")
    project = lock_round_under_review(round_)
    _signing_assignment(project=project, reviewer=actor)
    label = dict(AuditKind.choices).get(audit, audit)
    policy = policy_status(round_)
    audits = policy.audits
    actual = policy.status_of(audit) if audit in bound_audits(round_.guideline_version_id) else ""
    if actual not in WAIVABLE:
        if audits.state == "pending":
            why = "the round's audit results are still being computed"
        else:
            why = f"its result is “{actual}”" if actual else "it has no result to waive in this round"
        raise ValueError(f"Only a failed or uncomputable audit can be waived; {label} is not one ({why}).")
    if status not in {actual, audits.status_of(audit)}:
        raise TransitionConflict(
            f"{label}'s result in round {round_.number} is now “{actual}”, not “{status or 'none'}” as on your page. "
            "Nothing was saved; reload the round."
        )
    # A waiver by a reviewer who has since declared a conflict or been removed no longer
    # counts (reviews.selectors.review.policy_status), so the audit may be waived again.
    existing = policy.waivers.get(audit)
    if existing is not None:
        raise TransitionConflict(
            f"{existing.get_audit_display()} was already waived in round {round_.number} by "
            f"{existing.waived_by.display_name} at {existing.waived_at:%Y-%m-%d %H:%M:%S} UTC."
        )
    status = actual
    waiver = AuditWaiver.objects.create(round=round_, audit=audit, audit_status=status, reason=reason, waived_by=actor)
    activity_record(
        actor=actor,
        action=Action.WAIVE,
        obj=waiver,
        project=project,
        new={"round": round_.number, "audit": audit, "status": status, "reason": reason},
    )
    approve_if_policy_met(project=project, round_=round_, actor=actor)
    return waiver
