"""Reads behind the decision record: the letter's content, the round's integrity, the exports.

Everything comes from the frozen round (Round.canonical_json and its snapshot), its Signature
rows, its RoundOutcome, its AuditWaiver rows and the reviewers' submitted verdicts, never from
the live project, whose answers may have moved on since. What a viewer may read of reviews and
signatures is decided by the round page's own rules (visible_reviews, decisions_visible).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audits.selectors import AUDIT_LABELS
from reviews.csv_safe import csv_cell
from reviews.enums import Meaning, Outcome, Role
from reviews.models import ActivityEntry, AuditWaiver, ChainHead, GuidelineItem, Round, RoundReview, Signature, User
from reviews.selectors.review import (
    ItemFeedback,
    bound_audits,
    consolidated_feedback,
    decisions_visible,
    policy_status,
    visible_reviews,
)

# A round with one of these outcomes has a decision (and so a letter); a withdrawn one has none.
DECIDED_OUTCOMES = frozenset({Outcome.APPROVED, Outcome.REJECTED, Outcome.CHANGES_REQUESTED})
AUDIT_STATUS_LABELS = {
    "pass": "Pass",
    "warn": "Warning",
    "fail": "Fail",
    "not_computable": "Not computable",
    "": "No result",
}
HEX = frozenset("0123456789abcdef")


def is_digest(text: str) -> bool:
    return len(text) == 64 and set(text) <= HEX


def has_decision(round_: Round) -> bool:
    outcome = getattr(round_, "outcome", None)  # a missing one-to-one raises, getattr answers None
    return outcome is not None and outcome.outcome in DECIDED_OUTCOMES


def canonical_text(data: Any) -> str:
    """The round's canonical form (reviews.services.projects.canonical_json): sorted keys, no
    spaces, UTF-8 kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def letter_fingerprint(round_digest: str, signatures: list[Signature]) -> str:
    """A short text to compare by eye: the first 80 bits of the SHA-256 of the round's digest
    and its signatures' chain hashes, in chain order, as five groups of four."""
    text = "\n".join([round_digest, *(s.hash for s in sorted(signatures, key=lambda s: s.seq))])
    head = hashlib.sha256(text.encode("ascii")).hexdigest()[:20].upper()
    return "-".join(head[i : i + 4] for i in range(0, 20, 4))


def reviews_for(round_: Round, user: Any) -> tuple[list[RoundReview], bool]:
    """The submitted reviews `user` may read and whether they may see the signatures: the round
    page's rules (visible_reviews; decisions_visible with the viewer's own submitted review)."""

    visible = visible_reviews(round_, user)
    own = any(review.reviewer_id == user.pk for review in visible)
    return visible, decisions_visible(user, round_, {round_.pk} if own else set())


# ---- the letter ---------------------------------------------------------------------------


@dataclass
class AuditLine:
    audit: str
    label: str
    status: str
    summary: str
    waivers: list[AuditWaiver] = field(default_factory=list)
    # Waivers whose author can no longer sign the project: kept on record, not counted.
    uncounted: list[AuditWaiver] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return AUDIT_STATUS_LABELS.get(self.status, self.status)


@dataclass
class Letter:
    round: Round
    snapshot: dict[str, Any]
    owner: User
    signatures: list[Signature]
    audits: list[AuditLine]
    audit_state: str
    feedback: list[ItemFeedback]
    reviews_shown: bool
    fingerprint: str
    conditions: list[Signature]  # approvals with conditions: their statements are the conditions
    objections: list[Signature]  # change requests and rejections: their statements are reasons

    @property
    def project(self) -> dict[str, Any]:
        return dict(self.snapshot.get("project") or {})

    @property
    def answers(self) -> list[dict[str, Any]]:
        return list(self.snapshot.get("answers") or [])


def _audit_lines(round_: Round) -> tuple[list[AuditLine], str, list[Signature]]:
    status = policy_status(round_)
    summaries = {entry.audit: entry for entry in status.audits.audits}
    names = sorted(set(bound_audits(round_.guideline_version_id)) | set(summaries))
    lines = []
    for audit in names:
        summary = summaries.get(audit)
        lines.append(
            AuditLine(
                audit=audit,
                label=AUDIT_LABELS.get(audit, audit),
                status=status.status_of(audit),
                summary=summary.summary if summary is not None else "",
                waivers=[w for w in status.waivers.values() if w.audit == audit],
                uncounted=[w for w in status.uncounted if w.audit == audit],
            )
        )
    return lines, status.audits.state, status.signatures


def letter_for(round_: Round, user: Any) -> Letter:
    """The content of a decided round's letter as `user` may read it (the reviewers' item
    comments only where the round page would show them to this user)."""
    audits, audit_state, signatures = _audit_lines(round_)
    reviews, _shown = reviews_for(round_, user)
    return Letter(
        round=round_,
        snapshot=round_.snapshot,
        owner=round_.project.owner,
        signatures=signatures,
        audits=audits,
        audit_state=audit_state,
        feedback=consolidated_feedback(reviews),
        reviews_shown=bool(reviews),
        fingerprint=letter_fingerprint(round_.digest, signatures),
        conditions=[s for s in signatures if s.meaning == Meaning.APPROVE_WITH_CONDITIONS],
        objections=[
            s for s in signatures if s.meaning in {Meaning.REQUEST_CHANGES, Meaning.REJECT, Meaning.FINAL_REJECT}
        ],
    )


# ---- verification ---------------------------------------------------------------------------


@dataclass
class Check:
    label: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class PublicSignature:
    """A signature as the public verification page shows it: its place, the signer's role and
    expertise, its meaning and time; no name (the letter itself carries the printed names)."""

    position: int
    signer: str
    meaning: str
    signed_at: datetime


@dataclass
class Verification:
    round: Round
    title: str
    checks: list[Check]
    signatures: list[PublicSignature]
    fingerprint: str

    @property
    def intact(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def content_intact(self) -> bool:
        return self.checks[0].ok  # verify_round checks the round's content first

    @property
    def problems(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


def decided_round_by_digest(digest: str) -> Round | None:
    """The decided round whose stored digest this is (a withdrawn or undecided round has no letter)."""
    if not is_digest(digest):
        return None
    return (
        Round.objects.filter(digest=digest, outcome__outcome__in=sorted(DECIDED_OUTCOMES))
        .select_related("outcome", "project")
        .order_by("pk")
        .first()
    )


def _round_content_check(round_: Round) -> Check:
    if sha256_text(round_.canonical_json) == round_.digest:
        return Check("The round's content matches the digest it was signed with", True)
    return Check(
        "The round's content matches the digest it was signed with",
        False,
        "The round's content has changed since it was signed: its SHA-256 is no longer the digest on the letter.",
    )


def signer_description(signature: Signature) -> str:
    """The signer's role and expertise without their name: "technical reviewer", "administrator"."""
    role = "administrator" if signature.signer_role == Role.ADMIN else signature.signer_role
    expertise = signature.get_signer_expertise_display().lower() if signature.signer_expertise else ""
    return f"{expertise} {role}".strip()


def signature_label(position: int, signature: Signature) -> str:
    """A signature named by its place in the round and what it is, never by who gave it: the
    verification page is public, and the register may hide the signers' names (a board setting)."""
    return f"Signature {position} ({signer_description(signature)}, {signature.get_meaning_display().lower()})"


def _signature_checks(round_: Round, signatures: list[Signature]) -> list[Check]:
    """Each signature: bound to this round's digest, its content still hashing to its chain hash,
    and linked both ways in the signature chain (its predecessor's hash, and the next row's or
    the chain head's link to it), so that a rewritten row with a recomputed hash shows too."""
    positions = {s.seq for s in signatures}
    around = {row.seq: row for row in Signature.objects.filter(seq__in={p + d for p in positions for d in (-1, 1)})}
    head = ChainHead.objects.filter(name=Signature.CHAIN).first()
    checks = []
    for position, signature in enumerate(signatures, start=1):
        who = signature_label(position, signature)
        problems = []
        if signature.round_digest != round_.digest:
            problems.append("it was given for a different digest than this round's")
        if signature.compute_hash() != signature.hash:
            problems.append("its stored content was altered after signing (it no longer matches its hash)")
        before = around.get(signature.seq - 1)
        expected_prev = before.hash if before is not None else ("0" * 64 if signature.seq == 1 else None)
        if expected_prev is None or signature.prev_hash != expected_prev:
            problems.append("its link to the signature before it in the chain is broken")
        after = around.get(signature.seq + 1)
        next_link = after.prev_hash if after is not None else (head.last_hash if head is not None else None)
        if next_link != signature.hash:
            problems.append("the chain no longer points to it (the row was rewritten)")
        detail = f"{who} is not intact: " + "; ".join(problems) + "." if problems else ""
        checks.append(Check(who, not problems, detail))
    return checks


def _decision_check(round_: Round) -> Check:
    """The outcome row against the hash-chained activity log's record of the decision."""
    outcome = round_.outcome
    entry = (
        ActivityEntry.objects.filter(object_type="reviews.roundoutcome", object_id=str(outcome.pk))
        .order_by("seq")
        .first()
    )
    label = "The decision matches the hash-chained activity log"
    if entry is None:
        return Check(label, False, "The activity log holds no record of this decision.")
    logged = entry.new or {}
    if entry.compute_hash() != entry.hash:
        return Check(label, False, "The activity log's record of this decision was altered.")
    if logged.get("outcome") != outcome.outcome or (logged.get("reasons") or "") != outcome.reasons:
        return Check(label, False, "The decision differs from the one recorded in the activity log.")
    return Check(label, True)


def verify_round(round_: Round) -> Verification:
    """Recompute what the letter rests on and say what, if anything, no longer holds."""
    signatures = list(Signature.objects.filter(round=round_).order_by("signed_at", "pk"))
    checks = [_round_content_check(round_), *_signature_checks(round_, signatures), _decision_check(round_)]
    if not signatures:
        checks.append(Check("The round carries signatures", False, "No signature of this round is on record."))
    try:
        title = str((json.loads(round_.canonical_json).get("project") or {}).get("title") or "")
    except (ValueError, AttributeError):
        title = ""
    public = [
        PublicSignature(position, signer_description(s), s.get_meaning_display(), s.signed_at)
        for position, s in enumerate(signatures, start=1)
    ]
    return Verification(round_, title, checks, public, letter_fingerprint(round_.digest, signatures))


# ---- exports --------------------------------------------------------------------------------

EXPORT_FORMAT = "misyn-round-export/1"


def _signature_record(signature: Signature) -> dict[str, Any]:
    return {
        "printed_name": signature.printed_name,
        "role": signature.signer_role,
        "expertise": signature.signer_expertise,
        "meaning": signature.meaning,
        "statement": signature.statement,
        "signed_at": signature.signed_at.isoformat(),
        "round_digest": signature.round_digest,
        "seq": signature.seq,
        "prev_hash": signature.prev_hash,
        "hash": signature.hash,
    }


def export_json(round_: Round, user: Any) -> str:
    """One canonical JSON document: the frozen round (member "round", byte for byte the stored
    canonical JSON), its digest, and, when `user` may see them, its signatures and outcome.

    The stored text is canonical JSON already, so printing its parsed value canonically again
    gives back the same bytes: the member `"round"` is exactly the text the digest was computed
    over (tested).
    """
    _reviews, decisions_shown = reviews_for(round_, user)
    outcome = getattr(round_, "outcome", None)
    signatures = list(Signature.objects.filter(round=round_).order_by("signed_at", "pk")) if decisions_shown else []
    document = {
        "format": EXPORT_FORMAT,
        "digest": round_.digest,
        "digest_of": "SHA-256 of the member 'round' as it stands in this file: its canonical JSON "
        "(keys sorted, no spaces, UTF-8 unescaped)",
        "round": round_.snapshot,
        "signatures": [_signature_record(s) for s in signatures] if decisions_shown else None,
        "outcome": (
            {"outcome": outcome.outcome, "decided_at": outcome.decided_at.isoformat(), "reasons": outcome.reasons}
            if outcome is not None and decisions_shown
            else None
        ),
    }
    return canonical_text(document)


def export_csv(round_: Round, user: Any) -> str:
    """The frozen checklist, one row per item; the reviewers' verdicts and comments as two
    columns per reviewer when the round page would show them to `user`."""
    snapshot = round_.snapshot
    items = {
        item.code: item
        for item in GuidelineItem.objects.filter(version_id=round_.guideline_version_id).select_related("stage")
    }
    reviews, _shown = reviews_for(round_, user)
    verdicts = {
        (review.pk, entry.item.code): entry for review in reviews for entry in review.items.all()
    }  # visible_reviews prefetched items__item
    header = ["project", "round", "stage", "code", "requirement", "required", "status", "justification"]
    header += ["evidence_text", "files"]
    for review in reviews:
        name = review.reviewer.display_name
        header += [f"{name}: verdict", f"{name}: comment"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(h) for h in header])
    title = (snapshot.get("project") or {}).get("title", "")
    for answer in snapshot.get("answers") or []:
        item = items.get(answer.get("item", ""))
        files = "; ".join(f"{f.get('name', '')} (sha256 {f.get('sha256', '')})" for f in answer.get("files") or [])
        row = [title, round_.number, answer.get("stage", ""), answer.get("item", "")]
        row += [item.requirement if item is not None else "", "yes" if answer.get("required") else "no"]
        row += [answer.get("status", ""), answer.get("justification", ""), answer.get("evidence_text", ""), files]
        for review in reviews:
            entry = verdicts.get((review.pk, answer.get("item", "")))
            row += [entry.get_verdict_display() if entry else "", entry.comment if entry else ""]
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()
