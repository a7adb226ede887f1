"""Reads of the board dashboard: the portfolio's figures, each aggregated in the database.

Every figure is one query over the filtered projects, whatever their number: counts are
grouped in SQL (values/annotate, filtered Count, correlated Subquery), never a query per
project, round or reviewer. Only the turnaround percentiles are computed in Python, from one
list of (version, first submission, decision) rows.

Each figure's rows carry `params`: the project list's query (reviews.filters, `project-list`)
that lists exactly the projects behind that row's project count, before the dashboard's own
filters are added. What "overdue" and "unassigned" mean comes from reviews.filters, the
definitions the project list filters with, so a count and the list behind it agree. A number
no project list selects carries no params and links nowhere: decisions per month (rounds, by
decision date) and turnaround per deciding version (the list filters by current version).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncMonth
from django.utils import timezone

from audits.enums import RunStatus
from audits.models import AuditRun
from reviews.enums import (
    ACTIVE_ASSIGNMENT_STATUSES,
    OPEN_STATUSES,
    AssignmentStatus,
    AuditKind,
    ProjectStatus,
    Role,
    Verdict,
)
from reviews.filters import DECISIONS, overdue_assignment_q, unassigned_project_q
from reviews.models import (
    Assignment,
    AuditWaiver,
    GuidelineVersion,
    ItemReview,
    Project,
    Round,
    RoundOutcome,
    RoundReview,
    User,
)

Params = tuple[tuple[str, str], ...]

# The projects that still hold a reviewer's time: the open ones (reviews.enums.OPEN_STATUSES)
# past their draft, i.e. waiting on reviewers or coming back to them (a change request
# answered, an amendment). An assignment stays "accepted" after the decision; on an approved,
# rejected, suspended or withdrawn project it is history, not load. In lifecycle order, so the
# project list's link reads the same every time.
LOAD_STATUSES = tuple(status for status in ProjectStatus if status in OPEN_STATUSES - {ProjectStatus.DRAFT})
ACTIVE = sorted(ACTIVE_ASSIGNMENT_STATUSES)
TOP_ITEMS = 10


@dataclass(frozen=True)
class BoardFilters:
    version: GuidelineVersion | None = None
    modality: str = ""
    task: str = ""
    submitted_after: date | None = None
    submitted_before: date | None = None

    @property
    def params(self) -> Params:
        """The same filters in the project list's words (and the dashboard's own URL)."""
        pairs = [
            ("version", str(self.version.pk) if self.version else ""),
            ("modality", self.modality),
            ("task", self.task),
            ("submitted_after", self.submitted_after.isoformat() if self.submitted_after else ""),
            ("submitted_before", self.submitted_before.isoformat() if self.submitted_before else ""),
        ]
        return tuple((key, value) for key, value in pairs if value)

    @property
    def active(self) -> bool:
        return bool(self.params)


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    value: int
    params: Params


@dataclass(frozen=True)
class Month:
    month: date
    submissions: int
    decisions: int
    params: Params  # the projects first submitted that month

    @property
    def label(self) -> str:
        return self.month.strftime("%Y-%m")


@dataclass(frozen=True)
class Turnaround:
    version_pk: int
    set_name: str
    number: int
    label: str
    decided: int  # projects whose first decision was on this version (the project list's decided_version)
    median_days: float
    p90_days: float
    same_day: int  # of those, decided on the (local) day of round 1's submission

    @property
    def params(self) -> Params:
        return (("decided_version", str(self.version_pk)),)

    @property
    def drawn(self) -> bool:
        """Whether a bar of this version has a height on the chart (0.0 days draws none)."""
        return bool(self.median_days or self.p90_days)


@dataclass(frozen=True)
class Waiting:
    overdue_reviews: int
    overdue_projects: int
    unassigned: int
    invitations: int
    invited_projects: int
    overdue_params: Params = (("overdue", "1"),)
    unassigned_params: Params = (("unassigned", "1"),)
    invited_params: Params = (("invited", "1"),)


@dataclass(frozen=True)
class ReviewerLoad:
    pk: int
    name: str
    expertise: str
    active: int
    overdue: int
    finished: int
    params: Params


@dataclass(frozen=True)
class ItemCount:
    code: str
    requirement: str
    marks: int
    projects: int
    params: Params


@dataclass(frozen=True)
class AuditCount:
    audit: str
    label: str
    failing: int
    waived: int
    fail_params: Params
    waived_params: Params


@dataclass
class Board:
    total: int
    states: list[Bar]
    months: list[Month]
    turnaround: list[Turnaround]
    waiting: Waiting
    reviewers: list[ReviewerLoad]
    items: list[ItemCount]
    audits: list[AuditCount]
    decided: int = field(default=0)
    # When the figures were computed, and the day "overdue" was counted against.
    as_of: datetime | None = None
    today: date | None = None

    @property
    def one_guideline_set(self) -> bool:
        """All decided projects follow one guideline set (the usual case): "v2" names a version."""
        return len({row.set_name for row in self.turnaround}) <= 1

    @property
    def turnaround_drawn(self) -> bool:
        """Whether the turnaround chart has a bar with a height: when every median and 90th
        percentile rounds to 0.0 days (decisions on the day of submission) it would be an empty
        frame, and the page says in words what happened instead."""
        return any(row.drawn for row in self.turnaround)

    @property
    def decided_same_day(self) -> int:
        return sum(row.same_day for row in self.turnaround)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def board_projects(filters: BoardFilters) -> QuerySet[Project]:
    """Every project the filters select. The date range is on round 1's submission, so a
    range leaves out drafts that were never submitted."""
    projects = Project.objects.all()
    if filters.version is not None:
        projects = projects.filter(guideline_version=filters.version)
    if filters.modality:
        # The modalities are a JSON list of codes; the quoted code matches one element on
        # every backend (no code is a quoted part of another: "CT" is not in "OCT"), as the
        # project list's filter matches it.
        projects = projects.alias(modalities_text=Cast("modalities", TextField())).filter(
            modalities_text__contains=f'"{filters.modality}"'
        )
    if filters.task:
        projects = projects.filter(synthesis_task=filters.task)
    # Bounds on the timestamp itself, not on its date (a function of every row), so that the
    # partial index on round 1's submission time (round_one_submitted) finds the range. The
    # days are those of the current time zone, as __date would take them.
    dates: dict[str, Any] = {}
    if filters.submitted_after:
        dates["rounds__submitted_at__gte"] = _day_start(filters.submitted_after)
    if filters.submitted_before:
        dates["rounds__submitted_at__lt"] = _day_start(filters.submitted_before + timedelta(days=1))
    if dates:
        # One filter() call: round 1 and its date are the same joined row.
        projects = projects.filter(rounds__number=1, **dates)
    return projects


def board(projects: QuerySet[Project], *, today: date, filters: BoardFilters | None = None) -> Board:
    """All figures of the dashboard over `projects` (board_projects): eleven queries."""
    filters = filters or BoardFilters()
    ids = projects.values("pk")
    states = projects_by_state(projects)
    turnaround = turnaround_by_version(projects)
    return Board(
        total=sum(bar.value for bar in states),
        states=states,
        months=submissions_and_decisions(ids, filters=filters),
        turnaround=turnaround,
        waiting=waiting(projects, today=today),
        reviewers=reviewer_load(ids, today=today),
        items=must_change_items(ids),
        audits=audit_failures(ids),
        decided=sum(row.decided for row in turnaround),
        as_of=timezone.now(),
        today=today,
    )


def projects_by_state(projects: QuerySet[Project]) -> list[Bar]:
    counts = dict(projects.order_by().values_list("status").annotate(n=Count("pk")))
    return [
        Bar(key=status.value, label=status.label, value=counts.get(status.value, 0), params=(("status", status.value),))
        for status in ProjectStatus
    ]


def _month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _next_month(month: date) -> date:
    return _month_end(month) + timedelta(days=1)


def _as_month(value: date | datetime) -> date:
    return date(value.year, value.month, 1)


def submissions_and_decisions(ids: QuerySet[Any], *, filters: BoardFilters) -> list[Month]:
    """First submissions (round 1) and decisions (approved or rejected rounds) per month, every
    month from the first to the last with either, newest first: two queries."""
    submitted = (
        Round.objects.filter(project__in=ids, number=1)
        .annotate(month=TruncMonth("submitted_at"))
        .order_by()
        .values_list("month")
        .annotate(n=Count("pk"))
    )
    decided = (
        RoundOutcome.objects.filter(round__project__in=ids, outcome__in=DECISIONS)
        .annotate(month=TruncMonth("decided_at"))
        .order_by()
        .values_list("month")
        .annotate(n=Count("pk"))
    )
    submissions = {_as_month(month): n for month, n in submitted if month is not None}
    decisions = {_as_month(month): n for month, n in decided if month is not None}
    known = sorted({*submissions, *decisions})
    if not known:
        return []
    months, month = [], known[0]
    while month <= known[-1]:
        after = max(month, filters.submitted_after or month)
        before = min(_month_end(month), filters.submitted_before or _month_end(month))
        params = (("submitted_after", after.isoformat()), ("submitted_before", before.isoformat()))
        months.append(Month(month, submissions.get(month, 0), decisions.get(month, 0), params))
        month = _next_month(month)
    return months[::-1]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default, Excel's PERCENTILE.INC)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def turnaround_by_version(projects: QuerySet[Project]) -> list[Turnaround]:
    """Days from round 1's submission to the first approval or rejection, per guideline version
    of the round that was decided (Round.guideline_version): a project may since have moved to a
    newer version for an amendment, but its first decision was taken against the old one.

    One query: every approval or rejection of the projects with its round's version and the
    project's round 1 submission (a correlated subquery, not a query per project); the first
    decision of each project and the percentiles are picked in Python.
    """
    round_one = Round.objects.filter(project=OuterRef("round__project"), number=1).values("submitted_at")[:1]
    rows = (
        RoundOutcome.objects.filter(round__project__in=projects.values("pk"), outcome__in=DECISIONS)
        .annotate(first_submitted=Subquery(round_one))
        .order_by("decided_at", "pk")
        .values_list(
            "round__project",
            "round__guideline_version",
            "round__guideline_version__guideline_set__name",
            "round__guideline_version__number",
            "first_submitted",
            "decided_at",
        )
    )
    first_decisions: dict[int, tuple[tuple[int, str, int], float, bool]] = {}
    for project, version, set_name, number, first_submitted, decided_at in rows:
        if project not in first_decisions and first_submitted is not None:
            days = (decided_at - first_submitted).total_seconds() / 86400
            same_day = timezone.localdate(decided_at) == timezone.localdate(first_submitted)
            first_decisions[project] = ((version, set_name, number), days, same_day)
    days_by_version: dict[tuple[int, str, int], list[float]] = defaultdict(list)
    same_day_by_version: dict[tuple[int, str, int], int] = defaultdict(int)
    for version_key, days, same_day in first_decisions.values():
        days_by_version[version_key].append(days)
        same_day_by_version[version_key] += same_day
    return [
        Turnaround(
            version_pk=version,
            set_name=set_name,
            number=number,
            label=f"{set_name} v{number}",
            decided=len(values),
            median_days=round(percentile(values, 0.5), 1),
            p90_days=round(percentile(values, 0.9), 1),
            same_day=same_day_by_version[(version, set_name, number)],
        )
        for (version, set_name, number), values in sorted(
            days_by_version.items(), key=lambda entry: (entry[0][1], -entry[0][2])
        )
    ]


def waiting(projects: QuerySet[Project], *, today: date) -> Waiting:
    """What waits on the board: overdue reviews, projects nobody is assigned to, unanswered
    invitations: two queries."""
    overdue = overdue_assignment_q(today)
    invited = Q(status=AssignmentStatus.INVITED)
    counts = Assignment.objects.filter(project__in=projects.values("pk")).aggregate(
        overdue_reviews=Count("pk", filter=overdue),
        overdue_projects=Count("project", filter=overdue, distinct=True),
        invitations=Count("pk", filter=invited),
        invited_projects=Count("project", filter=invited, distinct=True),
    )
    return Waiting(unassigned=projects.filter(unassigned_project_q()).count(), **counts)


def reviewer_load(ids: QuerySet[Any], *, today: date) -> list[ReviewerLoad]:
    """Each active reviewer's open assignments (on projects that still hold their time), the
    overdue ones among them, and the rounds they finished reviewing: two queries.

    The counts are grouped by reviewer in one pass over the assignments and one over the
    reviews (a UNION ALL), not counted per reviewer: correlated counts re-read the selected
    projects once per reviewer and count, and cost reviewers x projects (1.9 s of the board's
    6.6 s at 100,000 projects and 30 reviewers). The reviewers come in name order; the
    stable sort by load keeps it among equals."""
    active = Q(status__in=ACTIVE, project__status__in=LOAD_STATUSES)
    assignments = (
        Assignment.objects.filter(project__in=ids)
        .order_by()
        .values("reviewer")
        .annotate(
            n_active=Count("pk", filter=active),
            n_overdue=Count("pk", filter=overdue_assignment_q(today)),
            n_finished=Value(0, output_field=IntegerField()),
        )
    )
    finished = (
        RoundReview.objects.filter(round__project__in=ids, submitted_at__isnull=False)
        .order_by()
        .values("reviewer")
        .annotate(
            n_active=Value(0, output_field=IntegerField()),
            n_overdue=Value(0, output_field=IntegerField()),
            n_finished=Count("pk"),
        )
    )
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in assignments.union(finished, all=True):
        total = counts[row["reviewer"]]
        total[0] += row["n_active"]
        total[1] += row["n_overdue"]
        total[2] += row["n_finished"]
    labels = dict(User._meta.get_field("expertise").choices or [])
    reviewers = (
        User.objects.filter(role=Role.REVIEWER, is_active=True)
        .order_by("full_name", "username")
        .values_list("pk", "full_name", "username", "expertise")
    )
    loads = [
        ReviewerLoad(
            pk=pk,
            name=full_name or username,
            expertise=str(labels.get(expertise, expertise)),
            active=counts[pk][0],
            overdue=counts[pk][1],
            finished=counts[pk][2],
            params=(("reviewer", str(pk)), *(("status", s.value) for s in LOAD_STATUSES)),
        )
        for pk, full_name, username, expertise in reviewers
    ]
    return sorted(loads, key=lambda load: (-load.active, -load.overdue))


def must_change_items(ids: QuerySet[Any], *, limit: int = TOP_ITEMS) -> list[ItemCount]:
    """The checklist items reviewers marked "must change" in submitted reviews on the most
    projects (then the most marks), by item code across versions: one query. Projects first,
    because the number a figure links to is the list of those projects."""
    rows = (
        ItemReview.objects.filter(
            verdict=Verdict.MUST_CHANGE, review__submitted_at__isnull=False, review__round__project__in=ids
        )
        .order_by()
        .values("item__code")
        .annotate(
            marks=Count("pk"),
            projects=Count("review__round__project", distinct=True),
            requirement=Max("item__requirement"),
        )
        .order_by("-projects", "-marks", "item__code")[:limit]
    )
    return [
        ItemCount(
            code=row["item__code"],
            requirement=row["requirement"],
            marks=row["marks"],
            projects=row["projects"],
            params=(("must_change", row["item__code"]),),
        )
        for row in rows
    ]


def audit_failures(ids: QuerySet[Any]) -> list[AuditCount]:
    """Per audit: the projects whose latest succeeded run failed it, and the projects where a
    reviewer waived it in some round: two queries. Most failing first."""
    # A project's latest succeeded run is the one no newer succeeded run of it follows (by
    # created_at, then id, as the project list's latest_audit_status orders them). As NOT
    # EXISTS the database joins the runs to each other once (an anti-join over the index
    # run_latest_per_project) instead of looking up the latest run again for every run:
    # 1.3-1.5 s to 0.5 s at 100,000 projects (200,000 runs).
    newer = AuditRun.objects.filter(project=OuterRef("project"), status=RunStatus.SUCCEEDED).filter(
        Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk"))
    )
    audits = list(AuditKind)
    failing = (
        AuditRun.objects.filter(project__in=ids, status=RunStatus.SUCCEEDED)
        .filter(~Exists(newer))
        .annotate(**{f"status_{audit.value}": KT(f"results__{audit.value}__status") for audit in audits})
        .aggregate(**{audit.value: Count("pk", filter=Q(**{f"status_{audit.value}": "fail"})) for audit in audits})
    )
    waived = dict(
        AuditWaiver.objects.filter(round__project__in=ids)
        .order_by()
        .values_list("audit")
        .annotate(n=Count("round__project", distinct=True))
    )
    counts = [
        AuditCount(
            audit=audit.value,
            label=audit.label,
            failing=failing[audit.value] or 0,
            waived=waived.get(audit.value, 0),
            fail_params=(("audit", audit.value), ("audit_status", "fail")),
            waived_params=(("waived", audit.value),),
        )
        for audit in audits
    ]
    return sorted(counts, key=lambda row: (-row.failing, -row.waived, audits.index(AuditKind(row.audit))))
