"""Reads of the objection channel: the projects one may object to, a sender's objection by its
tracking token, the triage list and page, and what the register shows of a project's objections.

Each page runs a fixed number of queries: responses come in one prefetch, never per objection.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db.models import Case, Count, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.http import Http404

from public.models import CLOSED_OBJECTION_STATUSES, Objection, ObjectionResponse, ObjectionStatus
from public.selectors.register import register_round, register_settings
from reviews.enums import Action, Outcome
from reviews.models import ActivityEntry, Project, Round

OPEN_OBJECTION_STATUSES = sorted(set(ObjectionStatus) - CLOSED_OBJECTION_STATUSES)


@dataclass(frozen=True)
class OnRegister:
    """A project as the register shows it: the title of its approved round, never the live
    title (an amendment in preparation may hold private edits)."""

    project: Project
    title: str


def registered_project(pk: int) -> OnRegister:
    """A project on the register (the register's own rule), or 404."""
    round_ = register_round(pk=pk, listing=register_settings().listing)
    if round_ is None:
        raise Http404("No such project on the register")
    return OnRegister(project=round_.project, title=str((round_.snapshot.get("project") or {}).get("title") or ""))


def public_title(project_pk: int) -> str:
    """The title of the project's latest approved round: what the sender saw on the register,
    even if the project has left it since."""
    round_ = (
        Round.objects.filter(project_id=project_pk, outcome__outcome=Outcome.APPROVED)
        .order_by("-number")
        .only("canonical_json")
        .first()
    )
    return str((round_.snapshot.get("project") or {}).get("title") or "") if round_ is not None else ""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def published_responses() -> Prefetch[str]:
    return Prefetch(
        "responses",
        queryset=ObjectionResponse.objects.filter(published_at__isnull=False).order_by("published_at", "pk"),
        to_attr="published_responses",
    )


def objection_by_token(token: str) -> Objection:
    """The sender's objection, found by the SHA-256 of their token only; anything else is 404."""
    if not token or len(token) > 100:
        raise Http404("No such objection")
    objection = (
        Objection.objects.select_related("project")
        .prefetch_related(published_responses())
        .filter(token_sha256=token_digest(token))
        .first()
    )
    if objection is None:
        raise Http404("No such objection")
    return objection


def _open_first() -> Case:
    return Case(When(status__in=OPEN_OBJECTION_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())


def objections_for_triage(*, status: str = "") -> QuerySet[Objection]:
    """The triage list: open objections first, newest first within each group."""
    objections = Objection.objects.select_related("project").annotate(
        closed=_open_first(),
        n_responses=Count("responses"),
        # The researcher answered and the board has not published it yet: the next step is the board's.
        n_to_publish=Count(
            "responses", filter=Q(responses__by=ObjectionResponse.By.RESEARCHER, responses__published_at__isnull=True)
        ),
    )
    if status == "open":
        objections = objections.filter(status__in=OPEN_OBJECTION_STATUSES)
    elif status in ObjectionStatus.values:
        objections = objections.filter(status=status)
    return objections.order_by("closed", "-created_at", "-pk")


@dataclass(frozen=True)
class StatusCount:
    value: str
    label: str
    count: int


def triage_status_counts() -> list[StatusCount]:
    """How many objections are in each status (one query), for the list's filter."""
    counts = Objection.objects.aggregate(
        open=Count("pk", filter=Q(status__in=OPEN_OBJECTION_STATUSES)),
        **{value: Count("pk", filter=Q(status=value)) for value in ObjectionStatus.values},
    )
    return [StatusCount("open", "Open", counts["open"])] + [
        StatusCount(value, label, counts[value]) for value, label in ObjectionStatus.choices
    ]


def open_objection_count() -> int:
    """For the administrators' navigation: objections waiting on the board or the researcher."""
    return Objection.objects.filter(status__in=OPEN_OBJECTION_STATUSES).count()


def objection_for_triage(pk: int) -> Objection:
    objection = (
        Objection.objects.select_related("project__owner", "decided_by")
        .prefetch_related(Prefetch("responses", queryset=ObjectionResponse.objects.select_related("author")))
        .filter(pk=pk)
        .first()
    )
    if objection is None:
        raise Http404("No such objection")
    return objection


def _asked_researcher(objection: Objection) -> bool:
    """Whether the board ever asked the researcher to respond: it waits for them now, they
    responded, or the ask is in the log (the board may have decided since). The responses are
    prefetched; the log is read only when they do not answer."""
    if objection.status == ObjectionStatus.AWAITING_RESEARCHER:
        return True
    if any(response.by == ObjectionResponse.By.RESEARCHER for response in objection.responses.all()):
        return True
    return ActivityEntry.objects.filter(
        action=Action.TRIAGE,
        object_type=Objection._meta.label_lower,
        object_id=str(objection.pk),
        new__step="ask_researcher",
    ).exists()


def objection_for_owner(*, project: Project, pk: int) -> Objection:
    """An objection on the owner's project that the owner may read: the board asked them to
    respond (now or before), or published its text. Looked up inside that project, so an id
    smuggled from another project is not found; any other objection is 404, since its text
    is the board's until it asks or publishes."""
    objection = (
        Objection.objects.select_related("project")
        .prefetch_related(Prefetch("responses", queryset=ObjectionResponse.objects.select_related("author")))
        .filter(project=project, pk=pk)
        .first()
    )
    if objection is None or not (objection.publish_text or _asked_researcher(objection)):
        raise Http404("No such objection on this project")
    return objection


def register_objections_queryset() -> QuerySet[Objection]:
    """What the register shows of objections, newest first, with their published responses:
    kind, date, status, the text when the board published it, the decision and its remedy."""
    return Objection.objects.prefetch_related(published_responses()).order_by("-created_at", "-pk")


def register_objections(project_pk: int) -> list[Objection]:
    """One project's objections as the register shows them (two queries)."""
    return list(register_objections_queryset().filter(project_id=project_pk))


def prefetch_register_objections() -> Prefetch[str]:
    """For a page of register rounds: each round's project gets `register_objections` (two
    queries for the whole page)."""
    return Prefetch("project__objections", queryset=register_objections_queryset(), to_attr="register_objections")
