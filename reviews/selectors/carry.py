"""Carry-forward between rounds: what a reviewer of round N+1 starts from.

A reviewer who reviewed round N starts round N+1 from their round-N verdicts and comments,
except on the items whose answer, evidence or bound audit result changed since: those are
marked "changed since round N" and left undecided, so that a revision is read, not waved
through. The change is read from the two frozen snapshots (reviews.selectors.diff) and the
audit results each round is judged on, never from the live draft.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from audits.selectors import RoundAudits, round_audits
from reviews.enums import OVERCLAIM_ITEMS, Verdict
from reviews.models import GuidelineItem, ItemReview, Round, RoundReview, User
from reviews.models.review import ReviewDraft
from reviews.selectors.diff import AnswerChange, diff_answers
from reviews.selectors.review import audit_status

# The catalogue items of the overclaim check: when one changed, the finding starts afresh.

AUDIT_STATUS_WORDS = {
    "pass": "passed",
    "warn": "warning",
    "fail": "failed",
    "not_computable": "not computable",
    "": "no result yet",
}


@dataclass
class PreviousVerdict:
    verdict: str
    comment: str

    @property
    def label(self) -> str:
        return Verdict(self.verdict).label if self.verdict in Verdict.values else "Undecided"


@dataclass
class CarryForward:
    """Round N+1 against round N for one reviewer."""

    previous_number: int
    changed: dict[str, list[str]]  # item code -> what changed, in words
    initial: dict[str, Any]  # the review form's starting values: round-N verdicts on unchanged items
    previous: dict[str, PreviousVerdict] = field(default_factory=dict)  # the reviewer's round-N verdict per item

    @property
    def carried(self) -> int:
        return sum(1 for name, value in self.initial.items() if name.startswith("verdict_") and value)


def _answer_reasons(change: AnswerChange) -> list[str]:
    reasons = []
    if change.is_new:
        reasons.append("new item in this round")
    if change.status_changed and not change.is_new:
        reasons.append(f"answer changed from “{change.status_before_label}” to “{change.status_after_label}”")
    if change.justification:
        reasons.append("justification edited")
    if change.evidence_text:
        reasons.append("evidence text edited")
    if change.files_added or change.files_removed or change.files_renamed:
        reasons.append("evidence files changed")
    return reasons


def changed_items(
    previous: Round, round_: Round, items: Iterable[GuidelineItem], *, audits: RoundAudits | None = None
) -> dict[str, list[str]]:
    """Item code -> why it changed from `previous` to `round_`: its answer or evidence, or the
    result of the audit bound to it."""
    before = list(previous.snapshot.get("answers") or [])
    after = list(round_.snapshot.get("answers") or [])
    changed: dict[str, list[str]] = {}
    for change in diff_answers(before, after):
        if change.changed and not change.is_gone:
            changed[change.code] = _answer_reasons(change)
    audits_before = round_audits(previous)
    audits_after = audits if audits is not None else round_audits(round_)
    for item in items:
        if not item.audit:
            continue
        status_before, status_after = audit_status(audits_before, item.audit), audit_status(audits_after, item.audit)
        if status_before != status_after:
            changed.setdefault(item.code, []).append(
                f"{item.get_audit_display()} audit {AUDIT_STATUS_WORDS.get(status_before, status_before)} "
                f"→ {AUDIT_STATUS_WORDS.get(status_after, status_after)}"
            )
    return changed


def _previous_work(previous: Round, reviewer: User) -> tuple[dict[str, PreviousVerdict], dict[str, Any]]:
    """The reviewer's own round-N work: their submitted review, else their unsubmitted draft,
    else the verdicts they saved without submitting (the round may have closed before they could)."""
    review = RoundReview.objects.filter(round=previous, reviewer=reviewer).first()
    draft = ReviewDraft.objects.filter(round=previous, reviewer=reviewer).first()
    if (review is None or not review.is_submitted) and draft is not None:
        data = dict(draft.data)
        verdicts = {
            name.removeprefix("verdict_"): PreviousVerdict(str(value), str(data.get("comment_" + name[8:], "")))
            for name, value in data.items()
            if name.startswith("verdict_") and value
        }
        overclaim = {key: data.get(key, "") for key in ("declared_phase", "overclaim", "overclaim_note")}
        return verdicts, overclaim
    if review is None:
        return {}, {}
    rows = ItemReview.objects.filter(review=review).select_related("item")
    verdicts = {row.item.code: PreviousVerdict(row.verdict, row.comment) for row in rows}
    overclaim = {
        "declared_phase": review.declared_phase,
        "overclaim": review.overclaim,
        "overclaim_note": review.overclaim_note,
    }
    return verdicts, overclaim


def carry_forward(
    round_: Round, reviewer: User, items: list[GuidelineItem], *, audits: RoundAudits | None = None
) -> CarryForward | None:
    """What `reviewer` starts round N+1 from; None for a first round."""
    if round_.number <= 1:
        return None
    previous = Round.objects.filter(project_id=round_.project_id, number=round_.number - 1).first()
    if previous is None:
        return None
    changed = changed_items(previous, round_, items, audits=audits)
    verdicts, overclaim = _previous_work(previous, reviewer)
    initial: dict[str, Any] = {}
    for item in items:
        earlier = verdicts.get(item.code)
        if earlier is None or item.code in changed:
            continue
        initial[f"verdict_{item.code}"] = earlier.verdict
        initial[f"comment_{item.code}"] = earlier.comment
    if overclaim and not any(code in changed for code in OVERCLAIM_ITEMS):
        initial.update(overclaim)
    return CarryForward(previous.number, changed, initial, verdicts)
