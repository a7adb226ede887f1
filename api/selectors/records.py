"""Reads behind the API's read-only records: rounds, their signatures and decisions, letter
verification. Every rule comes from the pages' own selectors (reviews.selectors.review,
letters.selectors, public.selectors.register); this module only gathers what one answer needs,
with a fixed number of queries whatever the data size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from letters.selectors import letter_fingerprint, reviews_for, signer_description
from public.selectors.register import REGISTER_STATUSES, register_entry_summary
from reviews.enums import UNDER_REVIEW_STATUSES, Outcome, ProjectStatus
from reviews.models import Project, Round, RoundReview, Signature
from reviews.selectors.review import PolicyStatus, policy_status

# A round's status in one word: how it ended, or where it stands while it has not.
ROUND_STATUS_WORDS = {
    "under_review": "Under review",
    "superseded": "Superseded by a later round",
    "closed": "Closed without a recorded outcome",
    **{value: str(label) for value, label in Outcome.choices},
}

# The project's standing as a journal holding a letter needs it: does an approval stand now?
STANDING_WORDS = {
    "approved": "Approved",
    "amendment": "Approved; an amendment is in progress",
    "suspended": "Approval suspended",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn",
    "no_approval": "No approval in force: the project is being revised or reviewed",
}


def project_rounds(project: Project) -> QuerySet[Round]:
    """The project's frozen rounds, first first, with what their summaries show (one query)."""
    return (
        Round.objects.filter(project=project)
        .select_related("submitted_by", "guideline_version__guideline_set", "outcome", "outcome__decided_by")
        .order_by("number")
    )


def latest_round_number(project: Project) -> int | None:
    return Round.objects.filter(project=project).order_by("-number").values_list("number", flat=True).first()


def round_status(round_: Round, project: Project, latest: int | None) -> str:
    """The outcome when the round ended; else "under_review", "superseded" or "closed", the
    round page's own reading (reviews.views.reviewing.round_state)."""
    outcome = getattr(round_, "outcome", None)  # a missing one-to-one raises, getattr answers None
    if outcome is not None:
        return str(outcome.outcome)
    if latest is not None and latest != round_.number:
        return "superseded"
    return "under_review" if project.status in UNDER_REVIEW_STATUSES else "closed"


@dataclass
class RoundRecord:
    """One round as the round page shows it to `user`: the reviews they may read, and the
    sign-off status only when the page shows them the signatures (decisions_visible)."""

    round: Round
    status: str
    reviews: list[RoundReview]
    decisions_visible: bool
    sign_off: PolicyStatus | None


def round_record(round_: Round, user: Any) -> RoundRecord:
    reviews, shown = reviews_for(round_, user)
    return RoundRecord(
        round=round_,
        status=round_status(round_, round_.project, latest_round_number(round_.project)),
        reviews=reviews,
        decisions_visible=shown,
        sign_off=policy_status(round_) if shown else None,
    )


@dataclass
class SignatureRecord:
    position: int  # in signing order, numbered as on the letter
    signature: Signature
    signer: str  # role and expertise in words, as the verification page names a signer

    @property
    def covers_round(self) -> bool:
        return self.signature.round_digest == self.signature.round.digest


@dataclass
class RoundSignatures:
    round: Round
    visible: bool
    signatures: list[SignatureRecord] | None  # None when the round page hides them from the user
    fingerprint: str | None


def round_signatures(round_: Round, user: Any) -> RoundSignatures:
    """The round's signatures in signing order, when the round page shows them to `user`."""
    _reviews, shown = reviews_for(round_, user)
    if not shown:
        return RoundSignatures(round_, False, None, None)
    signatures = list(Signature.objects.filter(round=round_).order_by("signed_at", "pk"))
    for signature in signatures:
        signature.round = round_  # covers_round compares with it: no query per signature
    records = [SignatureRecord(n, s, signer_description(s)) for n, s in enumerate(signatures, start=1)]
    return RoundSignatures(round_, True, records, letter_fingerprint(round_.digest, signatures))


def project_standing(project: Project) -> str:
    """Whether an approval of the project stands now, in the register's words where it has one
    (approved, amendment, suspended: public.selectors.register), else how the project ended or
    that no approval is in force. One or two queries."""
    if project.status in REGISTER_STATUSES:
        approved = (
            Round.objects.filter(project=project, outcome__outcome=Outcome.APPROVED)
            .select_related("outcome")
            .order_by("-number")
            .first()
        )
        if approved is not None:
            approved.project = project
            return register_entry_summary(approved).standing
    if project.status == ProjectStatus.REJECTED:
        return "rejected"
    if project.status == ProjectStatus.WITHDRAWN:
        return "withdrawn"
    return "no_approval"
