"""Reads of the public register: which projects are listed, and what the public sees of them.

Everything shown comes from the project's latest *approved* round, never from the live
project: a project in amendment has private edits (title, uses, modalities) that must not
reach the register, not even through a search or a filter that would answer "this project
matches" for a word typed only in the private draft. So search and filters run over the
frozen snapshot's own fields (its canonical JSON read as JSON by the database), never over
the whole snapshot text, which also holds evidence file names, the owner's username and
every answer.

A project is on the register when it is listed (the researcher opted in at its latest
submission, or the board's setting makes listing mandatory), has an approved round, and
stands approved, suspended, or in an amendment (the earlier approval stands meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, JSONField, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from audits.selectors import AUDIT_LABELS, AUDITS, round_audits
from public.models import Listing, RegisterSettings
from reviews.enums import AMENDMENT_STATUSES, Action, GeneratorFamily, Modality, Outcome, ProjectStatus, SynthesisTask
from reviews.models import ActivityEntry, Round, RoundOutcome
from reviews.selectors.projects import Suspension, suspension_in_force, suspensions_in_force

# The states in which an earlier approval stands (or stood, and was suspended): approved,
# suspended, and an amendment's states. A project in one of the amendment's states without an
# approved round is simply not listed.
REGISTER_STATUSES = frozenset({ProjectStatus.APPROVED, ProjectStatus.SUSPENDED}) | AMENDMENT_STATUSES
PER_PAGE = 20
# The catalogue items whose answers the register publishes: the declared limitations and the
# plain-language summary.
LIMITATIONS_ITEM = "EV-11"
PLAIN_SUMMARY_ITEM = "OV-4"

VERDICT_WORDS = {
    "pass": "Passed",
    "warn": "Passed with warnings",
    "fail": "Failed",
    "not_computable": "Not computable",
    "": "No result",
}


class Standing:
    APPROVED = "approved"
    AMENDMENT = "amendment"
    SUSPENDED = "suspended"

    WORDS = {
        APPROVED: "Approved",
        AMENDMENT: "Approved; an amendment is in progress",
        SUSPENDED: "Approval suspended",
    }


def register_settings() -> RegisterSettings:
    """The board's setting, read without writing: its defaults until an admin first saves it."""
    return RegisterSettings.objects.filter(pk=1).first() or RegisterSettings(pk=1)


def _snapshot_text(path: str) -> Any:
    return KT(f"snap__{path}")


def register_rounds(*, listing: str) -> QuerySet[Round]:
    """The approved round shown for each project on the register, newest approval first.

    One row per listed project: its latest round whose outcome is "approved". The snapshot's
    public fields are aliased (`r_title`, `r_summary`, ...) from the frozen JSON, for
    register_search; pages read them from Round.snapshot.
    """
    later_approval = RoundOutcome.objects.filter(
        round__project=OuterRef("project"), outcome=Outcome.APPROVED, round__number__gt=OuterRef("number")
    )
    rounds = Round.objects.filter(
        outcome__outcome=Outcome.APPROVED, project__status__in=sorted(REGISTER_STATUSES)
    ).exclude(Exists(later_approval))
    if listing != Listing.MANDATORY:
        rounds = rounds.filter(project__public_listing=True)
    return (
        rounds.select_related("outcome", "project")
        .alias(
            snap=Cast("canonical_json", JSONField()),
            r_title=_snapshot_text("project__title"),
            r_summary=_snapshot_text("project__summary"),
            r_intended=_snapshot_text("project__intended_use"),
            r_prohibited=_snapshot_text("project__prohibited_uses"),
            # Cast: an exact lookup on a JSON key compares JSON values, and SQLite then reads
            # the code typed as JSON text (malformed); as text it compares the plain code.
            r_task=Cast(_snapshot_text("project__synthesis_task"), TextField()),
            r_modalities=_snapshot_text("project__modalities"),
        )
        .order_by("-outcome__decided_at", "-pk")
    )


def register_search(rounds: QuerySet[Round], *, q: str = "", task: str = "", modality: str = "") -> QuerySet[Round]:
    """Narrow register_rounds by words (each must appear in the title, summary or uses of the
    approved round), a synthesis task and a modality (codes already checked by the form)."""
    for word in q.split()[:10]:
        rounds = rounds.filter(
            Q(r_title__icontains=word)
            | Q(r_summary__icontains=word)
            | Q(r_intended__icontains=word)
            | Q(r_prohibited__icontains=word)
        )
    if task:
        rounds = rounds.filter(Q(r_task=task))
    if modality:
        # The modalities are a JSON list of codes; a quoted code matches only itself.
        rounds = rounds.filter(Q(r_modalities__contains=f'"{modality}"'))
    return rounds


def register_round(*, pk: int, listing: str) -> Round | None:
    """The approved round shown for project `pk`, or None whatever the reason it is not listed."""
    if not 0 < pk < 2**63:  # a foreign-key lookup does not guard the database's integer range
        return None
    return register_rounds(listing=listing).filter(project_id=pk).first()


# ---------------------------------------------------------------------------------------
# What an entry shows


@dataclass
class PublicSignature:
    meaning: str
    expertise: str
    signed_at: datetime
    name: str  # empty unless the board shows signers' names


@dataclass
class PublicAudit:
    audit: str
    label: str
    status: str
    words: str
    waived: bool


@dataclass
class RegisterEntry:
    """One project as the register shows it: only frozen, public fields of its approved round."""

    pk: int
    round_number: int
    digest: str
    approved_at: datetime
    title: str
    summary: str
    intended_use: str
    prohibited_uses: str
    synthesis_task: str
    modalities: list[str]
    generator_family: str
    standing: str
    suspension: Suspension | None = None
    limitations: str = ""
    plain_summary: str = ""
    disclosure: str = ""
    images_audited: bool = False
    audits: list[PublicAudit] = field(default_factory=list)
    signatures: list[PublicSignature] = field(default_factory=list)

    @property
    def standing_words(self) -> str:
        return Standing.WORDS[self.standing]


def _label(choices: Any, value: Any) -> str:
    return str(dict(choices).get(value, value or ""))


def _answer_text(snapshot: dict[str, Any], code: str) -> str:
    """An item's answer in the snapshot: its evidence text and justification, when answered."""
    for answer in snapshot.get("answers") or []:
        if isinstance(answer, dict) and answer.get("item") == code and answer.get("status"):
            parts = [str(answer.get("evidence_text") or "").strip(), str(answer.get("justification") or "").strip()]
            return "\n\n".join(part for part in parts if part)
    return ""


def _suspension(round_: Round) -> Suspension | None:
    return suspension_in_force(round_.project, since=round_.outcome.decided_at)


def _standing(round_: Round, suspension: Suspension | None) -> str:
    if suspension is not None or round_.project.status == ProjectStatus.SUSPENDED:
        return Standing.SUSPENDED
    if round_.project.status == ProjectStatus.APPROVED:
        return Standing.APPROVED
    return Standing.AMENDMENT


_UNSET: Any = object()


def register_entry_summary(round_: Round, *, suspension: Suspension | None = _UNSET) -> RegisterEntry:
    """The fields of the list, the feed and the JSON index. The suspension in force is read
    here (one query, only for a project not plainly approved) unless the caller read it for a
    whole page (register_entry_summaries)."""
    frozen = round_.snapshot.get("project") or {}
    if suspension is _UNSET:
        suspension = _suspension(round_)
    return RegisterEntry(
        pk=round_.project_id,
        round_number=round_.number,
        digest=round_.digest,
        approved_at=round_.outcome.decided_at,
        title=str(frozen.get("title") or ""),
        summary=str(frozen.get("summary") or ""),
        intended_use=str(frozen.get("intended_use") or ""),
        prohibited_uses=str(frozen.get("prohibited_uses") or ""),
        synthesis_task=_label(SynthesisTask.choices, frozen.get("synthesis_task")),
        modalities=[_label(Modality.choices, code) for code in frozen.get("modalities") or []],
        generator_family=_label(GeneratorFamily.choices, frozen.get("generator_family")),
        standing=_standing(round_, suspension),
        suspension=suspension,
    )


def page_suspensions(rounds: Iterable[Round]) -> dict[int, Suspension]:
    """The suspensions in force of a page of register rounds, in one query."""
    return suspensions_in_force((round_.project, round_.outcome.decided_at) for round_ in rounds)


def register_entry_summaries(rounds: Iterable[Round]) -> list[RegisterEntry]:
    """register_entry_summary for a page of rounds, reading their suspensions in one query."""
    rounds = list(rounds)
    suspensions = page_suspensions(rounds)
    return [register_entry_summary(round_, suspension=suspensions.get(round_.project_id)) for round_ in rounds]


def register_entry(round_: Round, *, show_signer_names: bool, suspension: Suspension | None = _UNSET) -> RegisterEntry:
    """Everything the register shows of one project: the summary fields, the declared
    limitations and plain-language summary, the disclosure statement, the audit verdicts
    (waived or not) and the signatures' meanings, all of the approved round. The audit
    verdicts cost a query or two per round that had images (audits.selectors.round_audits)."""
    entry = register_entry_summary(round_, suspension=suspension)
    snapshot = round_.snapshot
    entry.limitations = _answer_text(snapshot, LIMITATIONS_ITEM)
    entry.plain_summary = _answer_text(snapshot, PLAIN_SUMMARY_ITEM)
    audits = round_audits(round_)
    entry.images_audited = audits.state == "ready"
    disclosure = next((a for a in audits.audits if a.audit == "disclosure"), None)
    entry.disclosure = disclosure.summary if disclosure is not None and entry.images_audited else ""
    waived = {waiver.audit for waiver in round_.waivers.all()}
    for audit in AUDITS:
        status = audits.status_of(audit)
        entry.audits.append(
            PublicAudit(
                audit=audit,
                label=AUDIT_LABELS.get(audit, audit),
                status=status or "none",
                words=VERDICT_WORDS.get(status, status),
                waived=audit in waived,
            )
        )
    for signature in round_.signatures.all():  # in signing order (Signature.Meta); prefetched by lists
        entry.signatures.append(
            PublicSignature(
                meaning=signature.get_meaning_display(),
                expertise=signature.get_signer_expertise_display() if signature.signer_expertise else "Administrator",
                signed_at=signature.signed_at,
                name=signature.printed_name if show_signer_names else "",
            )
        )
    return entry


@dataclass
class FeedEvent:
    """One item of the Atom feed: an approval, a suspension or a reinstatement."""

    key: str
    kind: str
    at: datetime
    entry: RegisterEntry
    text: str


def register_events(*, listing: str, limit: int = 50) -> list[FeedEvent]:
    """The newest events of the projects on the register: each approved round (an amendment's
    approval too), each suspension and reinstatement, newest first. Titles are those of the
    round shown on the register."""
    on_register = register_rounds(listing=listing).values("project_id")
    approvals = list(
        RoundOutcome.objects.filter(outcome=Outcome.APPROVED, round__project_id__in=on_register)
        .select_related("round")
        .only("decided_at", "round__number", "round__project_id", "round__digest")
        .order_by("-decided_at")[:limit]
    )
    changes = list(
        ActivityEntry.objects.filter(project_id__in=on_register, action__in=[Action.SUSPEND, Action.REINSTATE])
        .only("pk", "at", "action", "new", "project_id")
        .order_by("-at", "-pk")[:limit]
    )
    involved = {outcome.round.project_id for outcome in approvals} | {
        change.project_id for change in changes if change.project_id is not None
    }
    shown = {
        entry.pk: entry
        for entry in register_entry_summaries(register_rounds(listing=listing).filter(project_id__in=involved))
    }
    events: list[FeedEvent] = []
    for outcome in approvals:
        entry = shown[outcome.round.project_id]
        events.append(
            FeedEvent(
                key=f"approval:{outcome.round.project_id}:{outcome.round.number}",
                kind="approved",
                at=outcome.decided_at,
                entry=entry,
                text=f"Round {outcome.round.number} approved. Round digest (SHA-256): {outcome.round.digest}.",
            )
        )
    for change in changes:
        suspended = change.action == Action.SUSPEND
        # A suspension's reason is public (the register says why; the uphold form says so);
        # a reinstatement's reason is the board's own note, kept in the project's history.
        reason = change.new.get("reason", "") if suspended and isinstance(change.new, dict) else ""
        events.append(
            FeedEvent(
                key=f"{change.action}:{change.pk}",
                kind="suspended" if suspended else "reinstated",
                at=change.at,
                entry=shown[change.project_id],  # type: ignore[index]
                text=("Approval suspended" if suspended else "Approval reinstated")
                + (f": {reason}" if reason else "."),
            )
        )
    events.sort(key=lambda event: event.at, reverse=True)
    return events[:limit]
