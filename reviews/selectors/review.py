"""Reads of the review workflow: policies, the sign-off status of a round, reviewer
suggestions, what each person may read of other reviews, and the change between rounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet, prefetch_related_objects

from audits.selectors import RoundAudits, round_audits
from reviews.enums import (
    ACTIVE_ASSIGNMENT_STATUSES,
    APPROVING_MEANINGS,
    UNDER_REVIEW_STATUSES,
    AssignmentStatus,
    AuditKind,
    ExpertiseKind,
    Meaning,
    Role,
)
from reviews.models import (
    Assignment,
    AuditWaiver,
    GuidelineItem,
    GuidelineVersion,
    ItemReview,
    Project,
    ReviewPolicy,
    Round,
    RoundReview,
    Signature,
    User,
)
from reviews.rules import is_admin

WAIVABLE = frozenset({"fail", "not_computable"})


def policy_for(version: GuidelineVersion | int) -> ReviewPolicy:
    """The version's policy, or an unsaved one with the defaults when none was set; no query
    when the version was read with select_related("policy")."""
    if isinstance(version, GuidelineVersion) and GuidelineVersion.policy.is_cached(version):
        try:
            return version.policy  # a version without a policy row was cached as None: no query
        except ReviewPolicy.DoesNotExist:
            return ReviewPolicy(version_id=version.pk)
    version_id = version.pk if isinstance(version, GuidelineVersion) else version
    return ReviewPolicy.objects.filter(version_id=version_id).first() or ReviewPolicy(version_id=version_id)


@dataclass
class PolicyCheck:
    label: str
    met: bool
    detail: str = ""


@dataclass
class PolicyStatus:
    policy: ReviewPolicy
    checks: list[PolicyCheck]
    signatures: list[Signature]
    counted: list[Signature]
    audits: RoundAudits
    waivers: dict[str, AuditWaiver]
    needs_waiver: list[str]  # audits failed or uncomputable in the round, waived or not
    # Waivers whose author has since been removed or declared a conflict: kept, not counted.
    uncounted: list[AuditWaiver] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return all(check.met for check in self.checks)

    @property
    def unwaived(self) -> list[str]:
        return [audit for audit in self.needs_waiver if audit not in self.waivers]

    def status_of(self, audit: str) -> str:
        """The status the policy judges `audit` by (see audit_status)."""
        return audit_status(self.audits, audit)


def bound_audits(version: GuidelineVersion | int) -> list[str]:
    """The audits bound to at least one item of the guideline version: the ones a round answers for."""
    version_id = version.pk if isinstance(version, GuidelineVersion) else version
    codes = GuidelineItem.objects.filter(version=version_id).exclude(audit="").values_list("audit", flat=True)
    return sorted(set(codes))


def audit_status(audits: RoundAudits, audit: str) -> str:
    """A bound audit's status in a round, as the policy reads it.

    A finished run without a result for the audit could not compute it: that needs a waiver
    like any uncomputable audit, rather than passing unseen.
    """
    status = audits.status_of(audit)
    if not status and audits.state == "ready":
        return "not_computable"
    return status


def _eligible_signers(round_: Round) -> dict[int, Any]:
    """Reviewer id -> when they accepted, for the assigned, accepted, conflict-free reviewers.

    A signature counts only when given under the reviewer's current assignment: removing a
    reviewer (or their declaring a conflict) and assigning them again does not revive it.
    """
    return {
        reviewer_id: responded_at
        for reviewer_id, responded_at in Assignment.objects.filter(
            project_id=round_.project_id, status=AssignmentStatus.ACCEPTED, has_conflict=False
        ).values_list("reviewer_id", "responded_at")
    }


def _counts(signature: Signature, eligible: dict[int, Any]) -> bool:
    if signature.meaning not in APPROVING_MEANINGS or signature.signer_id not in eligible:
        return False
    accepted_at = eligible[signature.signer_id]
    return accepted_at is None or signature.signed_at >= accepted_at


def _waiver_counts(waiver: AuditWaiver, eligible: dict[int, Any]) -> bool:
    if waiver.waived_by_id not in eligible:
        return False
    accepted_at = eligible[waiver.waived_by_id]
    return accepted_at is None or waiver.waived_at >= accepted_at


def policy_status(round_: Round, *, items: list[GuidelineItem] | None = None) -> PolicyStatus:
    """Every condition of the round's sign-off policy, met or not, with what is missing.
    `items`: the round's catalogue items, when the caller has read them already (the bound
    audits are theirs)."""
    version = round_.guideline_version if Round.guideline_version.is_cached(round_) else round_.guideline_version_id
    policy = policy_for(version)
    signatures = list(Signature.objects.filter(round=round_).select_related("signer").order_by("signed_at", "pk"))
    eligible = _eligible_signers(round_)
    counted = [s for s in signatures if _counts(s, eligible)]
    checks = [
        PolicyCheck(
            f"{policy.approvals_required} approving signature{'' if policy.approvals_required == 1 else 's'} "
            "from assigned, conflict-free reviewers",
            len(counted) >= policy.approvals_required,
            f"{len(counted)} of {policy.approvals_required}",
        )
    ]
    if policy.require_technical_and_non_technical:
        technical = [s for s in counted if s.signer_expertise == ExpertiseKind.TECHNICAL]
        other = [s for s in counted if s.signer_expertise and s.signer_expertise != ExpertiseKind.TECHNICAL]
        checks.append(PolicyCheck("A technical reviewer approves", bool(technical), _names(technical)))
        checks.append(
            PolicyCheck(
                "A non-technical reviewer (clinical, ethics, patient/public) approves", bool(other), _names(other)
            )
        )
    blocking = [s for s in signatures if s.meaning in {Meaning.REQUEST_CHANGES, Meaning.REJECT}]
    checks.append(
        PolicyCheck(
            "No change request or rejection in this round",
            not blocking,
            "; ".join(f"{s.printed_name}: {s.get_meaning_display().lower()}" for s in blocking),
        )
    )
    audits = round_audits(round_)
    # Like signatures, a waiver counts only while its author may still sign: a reviewer who
    # later declares a conflict or is removed no longer carries an approval with it.
    all_waivers = list(AuditWaiver.objects.filter(round=round_).select_related("waived_by").order_by("waived_at", "pk"))
    waivers = {w.audit: w for w in all_waivers if _waiver_counts(w, eligible)}
    uncounted = [w for w in all_waivers if not _waiver_counts(w, eligible)]
    bound = sorted({item.audit for item in items if item.audit}) if items is not None else None
    if bound is None:
        bound = bound_audits(round_.guideline_version_id)
    needs_waiver = [a for a in bound if audit_status(audits, a) in WAIVABLE]
    if audits.state == "pending":
        checks.append(PolicyCheck("Audit results of this round are in", False, "the audit run is still going"))
    unwaived = [a for a in needs_waiver if a not in waivers]
    checks.append(
        PolicyCheck(
            "Every failed or uncomputable audit passed or waived with a reason",
            audits.state != "pending" and not unwaived,
            ("not waived: " + ", ".join(AuditKind(a).label if a in AuditKind.values else a for a in unwaived))
            if unwaived
            else f"{len(needs_waiver)} waived",
        )
    )
    return PolicyStatus(policy, checks, signatures, counted, audits, waivers, needs_waiver, uncounted)


def _names(signatures: list[Signature]) -> str:
    return ", ".join(s.printed_name for s in signatures)


@dataclass
class Suggestion:
    reviewer: User
    open_load: int
    matches: list[str] = field(default_factory=list)
    assigned: bool = False

    @property
    def score(self) -> int:
        return len(self.matches)


def reviewer_suggestions(project: Project) -> list[Suggestion]:
    """Active reviewers, best match first: expertise the project still lacks, then modality and
    task seen in their past reviews, then the lightest open load. Two queries."""
    open_load = Count(
        "assignments",
        filter=Q(assignments__status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES))
        & Q(assignments__project__status__in=sorted(UNDER_REVIEW_STATUSES)),
        distinct=True,
    )
    reviewers = list(
        User.objects.filter(role=Role.REVIEWER, is_active=True)
        .exclude(pk=project.owner_id)
        .annotate(open_load=open_load)
    )
    history = Assignment.objects.filter(
        reviewer__in=reviewers, status__in=[AssignmentStatus.ACCEPTED, AssignmentStatus.INVITED]
    ).values_list("reviewer_id", "project_id", "project__synthesis_task", "project__modalities", "has_conflict")
    tasks: dict[int, set[str]] = {}
    modalities: dict[int, set[str]] = {}
    on_project: set[int] = set()
    conflicted: set[int] = set()  # on the project but unable to sign: their expertise is still needed
    for reviewer_id, project_id, task, codes, has_conflict in history:
        if project_id == project.pk:
            on_project.add(reviewer_id)
            if has_conflict:
                conflicted.add(reviewer_id)
            continue
        tasks.setdefault(reviewer_id, set()).add(task)
        modalities.setdefault(reviewer_id, set()).update(codes or [])
    kinds_present = {r.expertise for r in reviewers if r.pk in on_project - conflicted}
    wanted = {ExpertiseKind.TECHNICAL} if ExpertiseKind.TECHNICAL not in kinds_present else set()
    if not kinds_present - {ExpertiseKind.TECHNICAL}:
        wanted |= {ExpertiseKind.CLINICAL, ExpertiseKind.ETHICS, ExpertiseKind.PATIENT_PUBLIC}
    suggestions = []
    for reviewer in reviewers:
        matches = []
        if reviewer.expertise in wanted:
            matches.append(f"{reviewer.get_expertise_display().lower()} expertise still needed")
        shared = sorted(set(project.modalities) & modalities.get(reviewer.pk, set()))
        if shared:
            matches.append("has reviewed " + ", ".join(shared))
        if project.synthesis_task in tasks.get(reviewer.pk, set()):
            matches.append(f"has reviewed {project.get_synthesis_task_display().lower()}")
        suggestions.append(
            Suggestion(reviewer, reviewer.open_load, matches, assigned=reviewer.pk in on_project)  # type: ignore[attr-defined]
        )
    suggestions.sort(key=lambda s: (s.assigned, -s.score, s.open_load, s.reviewer.display_name.lower()))
    return suggestions


def project_assignments(project: Project) -> QuerySet[Assignment]:
    return (
        Assignment.objects.filter(project=project)
        .select_related("reviewer", "assigned_by")
        .order_by("assigned_at", "pk")
    )


def _may_read_reviews(round_: Round, user: Any, submitted: list[RoundReview]) -> bool:
    """A reviewer reads the others' only after submitting their own; the researcher only once
    the round has ended; admins always."""
    if user.is_authenticated and (user.is_superuser or user.role == Role.ADMIN):
        return True
    if round_.project.owner_id == user.pk:
        return hasattr(round_, "outcome")  # a missing outcome raises AttributeError
    return any(review.reviewer_id == user.pk for review in submitted)


def visible_reviews(round_: Round, user: Any, *, verdicts: str = "items__item__stage") -> list[RoundReview]:
    """The submitted reviews of a round that `user` may read, with their verdicts.

    A review that is not submitted shows to nobody else (_may_read_reviews for the rest).
    `verdicts` is what is read with them.
    """
    reviews = list(
        RoundReview.objects.filter(round=round_, submitted_at__isnull=False)
        .select_related("reviewer")
        .order_by("submitted_at", "pk")
    )
    if not _may_read_reviews(round_, user, reviews):
        return []
    # The verdicts only of reviews the user may read: a reviewer still at work (the review
    # page's usual reader) costs no read of the others' items.
    prefetch_related_objects(reviews, verdicts)
    return reviews


def reviews_with_own(round_: Round, user: Any) -> tuple[list[RoundReview], RoundReview | None]:
    """The review page's reviews in one query: the submitted ones `user` may read (as
    visible_reviews) and the user's own review, submitted or not (None without one), each with
    its verdicts alone (the page has the round's items already; one query for all of them).
    The others' verdicts are read only when the user may read them."""
    rows = list(
        RoundReview.objects.filter(Q(submitted_at__isnull=False) | Q(reviewer_id=user.pk), round=round_)
        .select_related("reviewer")
        .order_by("submitted_at", "pk")
    )
    own = next((review for review in rows if review.reviewer_id == user.pk), None)
    submitted = [review for review in rows if review.submitted_at is not None]
    visible = submitted if _may_read_reviews(round_, user, submitted) else []
    prefetch_related_objects(visible if own is None or own in visible else [*visible, own], "items")
    return visible, own


@dataclass
class ItemFeedback:
    item: GuidelineItem
    entries: list[ItemReview]

    @property
    def worst(self) -> str:
        verdicts = {entry.verdict for entry in self.entries}
        for verdict in ("must_change", "concern", "acceptable"):
            if verdict in verdicts:
                return verdict
        return ""


def consolidated_feedback(reviews: list[RoundReview]) -> list[ItemFeedback]:
    """Per item, every reviewer's concern or required change (acceptable items with a comment
    too), in catalogue order: what the researcher works through when changes are requested."""
    by_item: dict[int, ItemFeedback] = {}
    for review in reviews:
        for entry in review.items.all():
            if entry.verdict == "acceptable" and not entry.comment:
                continue
            by_item.setdefault(entry.item_id, ItemFeedback(entry.item, [])).entries.append(entry)
    return sorted(by_item.values(), key=lambda f: (f.item.stage.order, f.item.order))


def last_round(project: Project) -> Round | None:
    return Round.objects.filter(project=project).select_related("guideline_version").order_by("-number").first()


def signed_rounds(user: Any) -> list[Signature]:
    """Every round the reviewer signed, newest first, with its project and how the round ended:
    the record of their finished work. One query."""
    return list(
        Signature.objects.filter(signer=user)
        .select_related("round__project", "round__outcome")
        .order_by("-signed_at", "-pk")
    )


def pending_invitations(user: Any) -> list[Assignment]:
    """The reviewer's invitations still to answer, soonest due first. One query."""
    return list(
        Assignment.objects.filter(reviewer=user, status=AssignmentStatus.INVITED)
        .select_related("project__owner")
        .order_by("due_date", "pk")
    )


def submitted_round_ids(user: User, project: Project) -> set[int]:
    """The rounds of the project in which `user` submitted a review (none for owner and admins,
    who never review; no query for them)."""
    if project.owner_id == user.pk or is_admin(user):
        return set()
    return set(
        RoundReview.objects.filter(round__project=project, reviewer=user, submitted_at__isnull=False).values_list(
            "round_id", flat=True
        )
    )


def decisions_visible(user: User, round_: Round, submitted_round_ids: set[int]) -> bool:
    """Signatures and the sign-off status of a round show to admins, to everyone once the round
    has ended, and to a reviewer once they submitted their own review of it: reviewers decide
    independently, and the researcher hears the decision when the round ends."""
    return bool(is_admin(user) or hasattr(round_, "outcome") or round_.pk in submitted_round_ids)
