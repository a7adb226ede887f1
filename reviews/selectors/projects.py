"""Reads of the reviews app, with the query choices that keep each page's count fixed."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Exists, F, Func, IntegerField, Model, OuterRef, Prefetch, QuerySet, Subquery

from audits.selectors import AuditSummary, RunSummary
from reviews.enums import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AMENDMENT_STATUSES,
    JUSTIFICATION_REQUIRED,
    OPEN_STATUSES,
    OVERCLAIM_ITEMS,
    Action,
    OverclaimFinding,
    ProjectStatus,
    Verdict,
    VersionStatus,
)
from reviews.models import (
    ActivityEntry,
    Answer,
    Assignment,
    AuditWaiver,
    EvidenceFile,
    GuidelineItem,
    GuidelineVersion,
    Project,
    Round,
    RoundReview,
    Stage,
)
from reviews.rules import is_admin, is_reviewer
from reviews.selectors.review import ItemFeedback, consolidated_feedback

DEFAULT_SET = "misyn"
ModelT = TypeVar("ModelT", bound=Model)


def guideline_version_current(*, set_slug: str = DEFAULT_SET) -> GuidelineVersion | None:
    """The newest published version of a set: what a new project starts with."""
    return (
        GuidelineVersion.objects.filter(guideline_set__slug=set_slug, status=VersionStatus.PUBLISHED)
        .order_by("-number")
        .first()
    )


def projects_visible_to(user: Any) -> QuerySet[Project]:
    """The projects a user may list, newest change first: bare rows, so that filters, counts
    and pages run on the projects alone (with_progress adds what a list row shows)."""
    queryset = Project.objects.order_by("-updated_at", "-pk")
    if is_admin(user):
        return queryset
    if is_reviewer(user):
        # Invited reviewers list the project too: its row leads to the invitation.
        held = Assignment.objects.filter(
            project=OuterRef("pk"), reviewer=user, status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES)
        )
        return queryset.filter(Exists(held))
    return queryset.filter(owner=user)


def count_of(rows: QuerySet[Any]) -> Subquery:
    """How many rows a correlated queryset matches, as a subquery of the outer row: COUNT with no
    GROUP BY, so the outer query neither joins those rows nor groups by its own (0 when none)."""
    return Subquery(
        rows.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n"), output_field=IntegerField()
    )


def with_progress(projects: QuerySet[Project]) -> QuerySet[Project]:
    """The rows of a project list: owner, guideline version, answered and total items, rounds.

    Each count is a subquery of its own project row (no join, no GROUP BY), but it still runs
    once per row: give it one page's rows (`pk__in` the page's ids), never a whole list."""
    return projects.select_related("owner", "guideline_version__guideline_set").annotate(
        answered=count_of(Answer.objects.filter(project=OuterRef("pk")).exclude(status="")),
        item_total=count_of(GuidelineItem.objects.filter(version=OuterRef("guideline_version"))),
        round_count=count_of(Round.objects.filter(project=OuterRef("pk"))),
    )


# Version id and publication time -> (items, required items), per process: a published version's
# items can no longer change (models.catalogue._FrozenWhenPublished), so a list page need not count
# them again for every row (two subqueries per row of the API's list, one of the project list's).
# A version not published at the time of reading is counted afresh. At most 64 versions.
_PUBLISHED_TOTALS: OrderedDict[str, tuple[int, int]] = OrderedDict()
_PUBLISHED_TOTALS_SIZE = 64
_PUBLISHED_TOTALS_LOCK = threading.Lock()


def _totals_key(version: GuidelineVersion) -> str:
    published = version.status == VersionStatus.PUBLISHED and version.published_at is not None
    return f"{version.pk}:{version.published_at.isoformat()}" if published else ""  # type: ignore[union-attr]


def version_item_totals(versions: Iterable[GuidelineVersion]) -> dict[int, tuple[int, int]]:
    """Version id -> (its items, its required items), as the subqueries of with_progress and
    api.selectors.projects.with_api_progress count them; one query for the versions not known
    (none when every version is published and was counted before by this process)."""
    found: dict[int, tuple[int, int]] = {}
    missing: dict[int, str] = {}
    with _PUBLISHED_TOTALS_LOCK:
        for version in versions:
            key = _totals_key(version)
            if key and key in _PUBLISHED_TOTALS:
                found[version.pk] = _PUBLISHED_TOTALS[key]
            else:
                missing[version.pk] = key
    if missing:
        items = GuidelineItem.objects.filter(version=OuterRef("pk"))
        counted = {
            pk: (total, required)
            for pk, total, required in GuidelineVersion.objects.filter(pk__in=list(missing))
            .order_by()
            .annotate(total=count_of(items), required=count_of(items.filter(required=True)))
            .values_list("pk", "total", "required")
        }
        with _PUBLISHED_TOTALS_LOCK:
            for version_id, key in missing.items():
                found[version_id] = counted.get(version_id, (0, 0))
                if key:
                    _PUBLISHED_TOTALS[key] = found[version_id]
                    while len(_PUBLISHED_TOTALS) > _PUBLISHED_TOTALS_SIZE:
                        _PUBLISHED_TOTALS.popitem(last=False)
    return found


def in_order_of(rows: Iterable[ModelT], ids: Sequence[int]) -> list[ModelT]:
    """The rows fetched by `pk__in=ids`, in the order of `ids` (a page's order, decided on bare
    rows); an id no longer found is left out."""
    found = {row.pk: row for row in rows}
    return [found[pk] for pk in ids if pk in found]


def first_submitted_at() -> Subquery:
    """When round 1 was frozen: the project's first submission, or NULL for a draft."""
    return Subquery(Round.objects.filter(project=OuterRef("pk"), number=1).values("submitted_at")[:1])


# What a row of the project list (reviews.templatetags.list_rows.project_rows) and of the home
# page's recent projects shows: the rest of a project and its owner are not read (about a third
# of the page's time went to building them, issue 13); of its version only what
# version_item_totals needs.
PAGE_ROW_FIELDS = (
    *("id", "title", "status", "synthesis_task", "updated_at", "owner__id", "owner__full_name", "owner__username"),
    *("guideline_version__id", "guideline_version__status", "guideline_version__published_at"),
)


def page_of_projects(user: Any, ids: Sequence[int]) -> list[Project]:
    """One page of a project list, by its ids: the rows with their owner, progress and first
    submission, in the ids' order (one query, and one for the item totals of their versions
    unless this process counted them already: version_item_totals). Only PAGE_ROW_FIELDS are
    read: any other field of a row would cost a query of its own (the query-count tests would
    say so)."""
    rows = (
        projects_visible_to(user)
        .filter(pk__in=ids)
        .order_by()
        .select_related("owner", "guideline_version")
        .only(*PAGE_ROW_FIELDS)
        .annotate(
            answered=count_of(Answer.objects.filter(project=OuterRef("pk")).exclude(status="")),
            round_count=count_of(Round.objects.filter(project=OuterRef("pk"))),
            first_submitted_at=first_submitted_at(),
        )
    )
    projects: list[Project] = in_order_of(rows, ids)
    totals = version_item_totals(
        {project.guideline_version_id: project.guideline_version for project in projects}.values()
    )
    for project in projects:
        project.item_total = totals[project.guideline_version_id][0]  # type: ignore[attr-defined]
    return projects


@dataclass
class ChecklistRow:
    item: GuidelineItem
    answer: Answer | None

    @property
    def status(self) -> str:
        return self.answer.status if self.answer else ""

    @property
    def problem(self) -> str:
        """Why this row blocks submission, or '' when it does not."""
        if not self.status:
            return "not answered" if self.item.required else ""
        if self.status in JUSTIFICATION_REQUIRED and not (self.answer and self.answer.justification.strip()):
            return "needs a justification"
        return ""


@dataclass
class ChecklistStage:
    stage: Stage
    rows: list[ChecklistRow] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(1 for row in self.rows if row.status)

    @property
    def percent(self) -> int:
        return round(100 * self.answered / len(self.rows)) if self.rows else 100


def project_checklist(*, project: Project) -> list[ChecklistStage]:
    """Stages in order with each item and its answer (and files): four queries, whatever the size
    (three when nothing is answered yet, as there are no files to look up)."""
    stages = {stage.pk: ChecklistStage(stage) for stage in Stage.objects.filter(version=project.guideline_version_id)}
    answers = {
        answer.item_id: answer
        for answer in Answer.objects.filter(project=project).prefetch_related(
            Prefetch("files", queryset=EvidenceFile.objects.order_by("uploaded_at", "pk"))
        )
    }
    for item in GuidelineItem.objects.filter(version=project.guideline_version_id).order_by("stage__order", "order"):
        stages[item.stage_id].rows.append(ChecklistRow(item=item, answer=answers.get(item.pk)))
    return list(stages.values())


def submission_problems(*, checklist: list[ChecklistStage]) -> list[ChecklistRow]:
    return [row for stage in checklist for row in stage.rows if row.problem]


def project_activity(*, project: Project) -> QuerySet[ActivityEntry]:
    return ActivityEntry.objects.filter(project=project).order_by("-at", "-pk")


@dataclass
class FailingAudit:
    """An audit whose latest result over the current images fails, with the items bound to it."""

    entry: AuditSummary
    items: list[GuidelineItem]


@dataclass
class ResearcherTasks:
    """What the researcher must act on, as the project overview lists it."""

    round: Round | None = None
    must_change: list[ItemFeedback] = field(default_factory=list)
    overclaims: list[RoundReview] = field(default_factory=list)
    failing_audits: list[FailingAudit] = field(default_factory=list)
    claim_items: list[GuidelineItem] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.must_change or self.overclaims or self.failing_audits)


def researcher_tasks(
    *,
    project: Project,
    checklist: list[ChecklistStage],
    latest_round: Round | None,
    reviews: list[RoundReview],
    results: RunSummary | None,
) -> ResearcherTasks:
    """Items a reviewer marked "must change", overclaim findings and failing audits not waived.

    `reviews` are the latest round's reviews the researcher may read (none before it ended:
    reviews.selectors.review.visible_reviews); `results` the latest results over the project's
    current images (audits.selectors.latest_results). A failing audit a reviewer of the latest
    round waived is left out. At most one query (the waivers), none when no audit fails.
    """
    decided = latest_round is not None and hasattr(latest_round, "outcome")
    must_change = (
        [entry for entry in consolidated_feedback(reviews) if entry.worst == Verdict.MUST_CHANGE]
        if decided and project.status == ProjectStatus.CHANGES_REQUESTED
        else []
    )
    overclaims = [review for review in reviews if review.overclaim == OverclaimFinding.OVERCLAIM] if decided else []
    # Once decided (approved, rejected) or withdrawn, a failing audit asks nothing more of anyone.
    failing = [
        entry
        for entry in (results.audits if results and project.status in OPEN_STATUSES else [])
        if entry.status == "fail"
    ]
    waived: set[str] = set()
    if failing and latest_round is not None:
        waived = set(
            AuditWaiver.objects.filter(round=latest_round, audit__in=[entry.audit for entry in failing]).values_list(
                "audit", flat=True
            )
        )
    bound: dict[str, list[GuidelineItem]] = {}
    claim_items = []
    for stage in checklist:
        for row in stage.rows:
            if row.item.audit:
                bound.setdefault(row.item.audit, []).append(row.item)
            if row.item.code in OVERCLAIM_ITEMS:
                claim_items.append(row.item)
    return ResearcherTasks(
        round=latest_round if decided else None,
        must_change=must_change,
        overclaims=overclaims,
        failing_audits=[
            FailingAudit(entry=entry, items=bound.get(entry.audit, []))
            for entry in failing
            if entry.audit not in waived
        ],
        claim_items=claim_items,
    )


@dataclass(frozen=True)
class Suspension:
    at: datetime
    reason: str


def suspension_in_force(project: Project, *, since: datetime) -> Suspension | None:
    """The suspension of the approval decided at `since`, if one is in force: the project's
    latest SUSPEND after it not followed by a REINSTATE (one query). A suspended project may be
    amended, so its status alone does not say it; a new approval ends it (a later `since`)."""
    if project.status not in AMENDMENT_STATUSES | {ProjectStatus.SUSPENDED}:
        return None
    last = (
        ActivityEntry.objects.filter(project=project, action__in=[Action.SUSPEND, Action.REINSTATE], at__gte=since)
        .order_by("-at", "-pk")
        .only("at", "action", "new")
        .first()
    )
    if last is None or last.action != Action.SUSPEND:
        return None
    reason = last.new.get("reason", "") if isinstance(last.new, dict) else ""
    return Suspension(at=last.at, reason=str(reason))


def suspensions_in_force(approvals: Iterable[tuple[Project, datetime]]) -> dict[int, Suspension]:
    """suspension_in_force for many projects at once (a register page, its feed or JSON):
    each project with the time its shown approval was decided. One query for all of them (none
    when no project is amended or suspended); returns the suspensions in force by project id."""
    since = {
        project.pk: at for project, at in approvals if project.status in AMENDMENT_STATUSES | {ProjectStatus.SUSPENDED}
    }
    if not since:
        return {}
    latest: dict[int, ActivityEntry] = {}
    entries = (
        ActivityEntry.objects.filter(
            project_id__in=list(since), action__in=[Action.SUSPEND, Action.REINSTATE], at__gte=min(since.values())
        )
        .order_by("at", "pk")
        .only("at", "action", "new", "project_id")
    )
    for entry in entries:
        if entry.project_id is not None and entry.at >= since[entry.project_id]:
            latest[entry.project_id] = entry  # ascending: the last one kept is the latest
    found: dict[int, Suspension] = {}
    for project_pk, last in latest.items():
        if last.action == Action.SUSPEND:
            reason = last.new.get("reason", "") if isinstance(last.new, dict) else ""
            found[project_pk] = Suspension(at=last.at, reason=str(reason))
    return found
