"""Reads of the reviews app, with the query choices that keep each page's count fixed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery

from reviews.enums import ACTIVE_ASSIGNMENT_STATUSES, JUSTIFICATION_REQUIRED, VersionStatus
from reviews.models import (
    ActivityEntry,
    Answer,
    Assignment,
    EvidenceFile,
    GuidelineItem,
    GuidelineVersion,
    Project,
    Stage,
)
from reviews.rules import is_admin, is_reviewer

DEFAULT_SET = "misyn"


def guideline_version_current(*, set_slug: str = DEFAULT_SET) -> GuidelineVersion | None:
    """The newest published version of a set: what a new project starts with."""
    return (
        GuidelineVersion.objects.filter(guideline_set__slug=set_slug, status=VersionStatus.PUBLISHED)
        .order_by("-number")
        .first()
    )


def projects_visible_to(user: Any) -> QuerySet[Project]:
    """The projects a user may list, with progress counts for the list page."""
    item_total = (
        GuidelineItem.objects.filter(version=OuterRef("guideline_version"))
        .values("version")
        .annotate(total=Count("pk"))
        .values("total")
    )
    queryset = (
        Project.objects.select_related("owner", "guideline_version__guideline_set")
        .annotate(
            answered=Count("answers", filter=~Q(answers__status=""), distinct=True),
            item_total=Subquery(item_total, output_field=IntegerField()),
            round_count=Count("rounds", distinct=True),
        )
        .order_by("-updated_at", "-pk")
    )
    if is_admin(user):
        return queryset
    if is_reviewer(user):
        # Invited reviewers list the project too: its row leads to the invitation.
        assigned = Assignment.objects.filter(reviewer=user, status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES))
        return queryset.filter(pk__in=assigned.values("project"))
    return queryset.filter(owner=user)


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
