"""Reads of the guideline catalogue: a version's tree, its diff against its parent, and the
impact of a version on the projects of its set (how their answers map by item code).

Items are matched by code across versions (a code is unique within a version). An item is
"changed" for the projects when what a researcher answers to changed: its requirement,
whether it is required, or its bound audit; every other field is shown in the diff but
keeps the answer as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, QuerySet

from reviews.enums import EDITABLE_STATUSES, OPEN_STATUSES, Action, AuditKind, Automation, ProjectStatus, VersionStatus
from reviews.models import ActivityEntry, Answer, GuidelineItem, GuidelineVersion, Project, ReviewPolicy, Stage
from reviews.selectors.diff import DiffLine, text_lines

ITEM_FIELD_LABELS = {
    "requirement": "Requirement",
    "rationale": "Rationale",
    "evidence": "Evidence to attach",
    "required": "Required",
    "audit": "Bound audit",
    "automation": "Automation",
    "automation_note": "Automation note",
    "basis": "Basis",
    "basis_note": "Basis note",
}
TEXT_FIELDS = frozenset({"requirement", "rationale", "evidence"})
# A change to one of these asks the researcher to read the item again.
ANSWER_FIELDS = ("requirement", "required", "audit")
# The projects a new version concerns: open ones, and approved or suspended ones that may open an amendment.
IMPACT_STATUSES = frozenset(OPEN_STATUSES | {ProjectStatus.APPROVED, ProjectStatus.SUSPENDED})
# A project whose researcher may edit it is told when a newer version is published, and may move to it.
MOVABLE_STATUSES = EDITABLE_STATUSES

# Who edits and publishes guideline versions (reviews.rules: administrators).
MANAGE_CATALOGUE = "reviews.manage_catalogue"

_AUDIT_LABELS = dict(AuditKind.choices)
_AUTOMATION_LABELS = dict(Automation.choices)


def version_with_tree(pk: int) -> QuerySet[GuidelineVersion]:
    """The version with its stages and items in order (three queries, whatever the size)."""
    return (
        GuidelineVersion.objects.select_related("guideline_set", "parent")
        .prefetch_related(
            Prefetch(
                "stages",
                queryset=Stage.objects.order_by("order").prefetch_related(
                    Prefetch("items", queryset=GuidelineItem.objects.order_by("order"))
                ),
            )
        )
        .filter(pk=pk)
    )


def versions_visible_to(user: Any) -> QuerySet[GuidelineVersion]:
    """Administrators see drafts too; everyone else reads published versions only."""
    versions = GuidelineVersion.objects.select_related("guideline_set")
    if user.has_perm(MANAGE_CATALOGUE):
        return versions
    return versions.filter(status=VersionStatus.PUBLISHED)


def newest_published(*, guideline_set_id: int) -> GuidelineVersion | None:
    return (
        GuidelineVersion.objects.filter(guideline_set_id=guideline_set_id, status=VersionStatus.PUBLISHED)
        .select_related("guideline_set")
        .order_by("-number")
        .first()
    )


def review_policy_of(version: GuidelineVersion) -> ReviewPolicy:
    """The version's policy row, or an unsaved one with the defaults it stands for."""
    return ReviewPolicy.objects.filter(version=version).first() or ReviewPolicy(version=version)


# ---------------------------------------------------------------------------------------
# The diff


def _display(name: str, value: Any) -> str:
    if name == "required":
        return "yes" if value else "no"
    if name == "audit":
        return _AUDIT_LABELS.get(value, "none")
    if name == "automation":
        return _AUTOMATION_LABELS.get(value, str(value))
    return str(value or "")


@dataclass
class ItemFieldChange:
    name: str
    label: str
    before: str
    after: str
    lines: list[DiffLine] = field(default_factory=list)


@dataclass
class ItemChange:
    code: str
    stage_before: str
    stage_after: str
    fields: list[ItemFieldChange] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return self.stage_before != self.stage_after

    @property
    def touches_answers(self) -> bool:
        return any(change.name in ANSWER_FIELDS for change in self.fields)


@dataclass
class StageRename:
    code: str
    before: str
    after: str


@dataclass
class VersionDiff:
    added: list[GuidelineItem] = field(default_factory=list)
    removed: list[GuidelineItem] = field(default_factory=list)
    changed: list[ItemChange] = field(default_factory=list)  # fields changed (and maybe moved too)
    moved: list[ItemChange] = field(default_factory=list)  # moved between stages, whatever else changed
    stages_added: list[Stage] = field(default_factory=list)
    stages_removed: list[Stage] = field(default_factory=list)
    stages_renamed: list[StageRename] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (self.added, self.removed, self.changed, self.moved, self.stages_added, self.stages_removed)
        ) or bool(self.stages_renamed)

    def summary(self) -> dict[str, list[str]]:
        """What the activity log keeps of the diff: the codes, by kind."""
        return {
            "items_added": [item.code for item in self.added],
            "items_removed": [item.code for item in self.removed],
            "items_changed": [change.code for change in self.changed],
            "items_moved": [change.code for change in self.moved],
            "stages_added": [stage.code for stage in self.stages_added],
            "stages_removed": [stage.code for stage in self.stages_removed],
            "stages_renamed": [rename.code for rename in self.stages_renamed],
        }


def _items_by_code(version_id: int) -> dict[str, GuidelineItem]:
    items = GuidelineItem.objects.filter(version_id=version_id).select_related("stage")
    return {item.code: item for item in items.order_by("stage__order", "order")}


def _item_fields(before: GuidelineItem, after: GuidelineItem) -> list[ItemFieldChange]:
    changes = []
    for name, label in ITEM_FIELD_LABELS.items():
        old, new = getattr(before, name), getattr(after, name)
        if old == new:
            continue
        lines = text_lines(str(old), str(new)) if name in TEXT_FIELDS else []
        changes.append(ItemFieldChange(name, label, _display(name, old), _display(name, new), lines))
    return changes


def version_diff(*, old: GuidelineVersion, new: GuidelineVersion) -> VersionDiff:
    """Stages and items of `new` against `old`, matched by code (four queries)."""
    diff = VersionDiff()
    old_stages = {stage.code: stage for stage in Stage.objects.filter(version=old).order_by("order")}
    new_stages = {stage.code: stage for stage in Stage.objects.filter(version=new).order_by("order")}
    diff.stages_added = [stage for code, stage in new_stages.items() if code not in old_stages]
    diff.stages_removed = [stage for code, stage in old_stages.items() if code not in new_stages]
    diff.stages_renamed = [
        StageRename(code, old_stages[code].name, stage.name)
        for code, stage in new_stages.items()
        if code in old_stages and old_stages[code].name != stage.name
    ]
    old_items, new_items = _items_by_code(old.pk), _items_by_code(new.pk)
    diff.added = [item for code, item in new_items.items() if code not in old_items]
    diff.removed = [item for code, item in old_items.items() if code not in new_items]
    for code, item in new_items.items():
        before = old_items.get(code)
        if before is None:
            continue
        change = ItemChange(code, before.stage.code, item.stage.code, _item_fields(before, item))
        if change.fields:
            diff.changed.append(change)
        if change.moved:
            diff.moved.append(change)
    return diff


# ---------------------------------------------------------------------------------------
# The impact on projects


@dataclass
class AnswerMapping:
    """What happens to one project's answers on a move to the target version."""

    unchanged: list[str] = field(default_factory=list)  # answered, same item: carried as they are
    changed: list[str] = field(default_factory=list)  # answered, item changed: carried, to be read again
    new: list[str] = field(default_factory=list)  # items of the target the project never answered before
    new_required: list[str] = field(default_factory=list)  # of those, the required ones: block submission
    removed: list[str] = field(default_factory=list)  # answered items the target no longer has: dropped

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("unchanged", "changed", "new", "new_required", "removed")}


@dataclass
class ProjectImpact:
    project: Project
    from_version: GuidelineVersion
    mapping: AnswerMapping

    @property
    def will_be_told(self) -> bool:
        return self.project.status in MOVABLE_STATUSES


@dataclass
class VersionImpact:
    version: GuidelineVersion
    projects: list[ProjectImpact] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for row in self.projects:
            for name, count in row.mapping.counts.items():
                totals[name] += count
        return dict(totals)


def _answer_changed(before: GuidelineItem, after: GuidelineItem) -> bool:
    return any(getattr(before, name) != getattr(after, name) for name in ANSWER_FIELDS)


def answer_mapping(
    *, old_items: dict[str, GuidelineItem], new_items: dict[str, GuidelineItem], answered: Iterable[str]
) -> AnswerMapping:
    """Pure: how answers on `old_items` (the codes in `answered`) map onto `new_items`."""
    answered_codes = set(answered)
    mapping = AnswerMapping()
    for code, item in old_items.items():
        if code not in answered_codes:
            continue
        target = new_items.get(code)
        if target is None:
            mapping.removed.append(code)
        elif _answer_changed(item, target):
            mapping.changed.append(code)
        else:
            mapping.unchanged.append(code)
    for code, item in new_items.items():
        if code not in old_items:
            mapping.new.append(code)
            if item.required:
                mapping.new_required.append(code)
    return mapping


def _answered_codes(project_ids: list[int]) -> dict[int, set[str]]:
    """Per project, the item codes with an answer row (any content: a dropped one would be lost)."""
    codes: dict[int, set[str]] = defaultdict(set)
    for project_id, code in Answer.objects.filter(project_id__in=project_ids).values_list("project_id", "item__code"):
        codes[project_id].add(code)
    return codes


def version_impact(*, version: GuidelineVersion) -> VersionImpact:
    """The projects on older versions of the set that the version concerns, each with how its
    answers would map onto it. A fixed number of queries, whatever the number of projects."""
    projects = list(
        Project.objects.filter(
            guideline_version__guideline_set_id=version.guideline_set_id,
            guideline_version__number__lt=version.number,
            status__in=sorted(IMPACT_STATUSES),
        )
        .select_related("owner", "guideline_version__guideline_set")
        .order_by("guideline_version__number", "title", "pk")
    )
    impact = VersionImpact(version=version)
    if not projects:
        return impact
    new_items = _items_by_code(version.pk)
    old_version_ids = sorted({project.guideline_version_id for project in projects})
    old_items: dict[int, dict[str, GuidelineItem]] = defaultdict(dict)
    for item in GuidelineItem.objects.filter(version_id__in=old_version_ids).order_by("stage__order", "order"):
        old_items[item.version_id][item.code] = item
    answered = _answered_codes([project.pk for project in projects])
    for project in projects:
        mapping = answer_mapping(
            old_items=old_items[project.guideline_version_id], new_items=new_items, answered=answered[project.pk]
        )
        impact.projects.append(ProjectImpact(project, project.guideline_version, mapping))
    return impact


@dataclass
class MovePlan:
    """The researcher's view of a move: the mapping, and the answers that would be dropped."""

    project: Project
    target: GuidelineVersion
    mapping: AnswerMapping
    dropped: list[Answer]
    diff: VersionDiff

    def changed_fields(self) -> dict[str, list[ItemFieldChange]]:
        return {change.code: change.fields for change in self.diff.changed if change.code in self.mapping.changed}


def move_plan(*, project: Project, target: GuidelineVersion) -> MovePlan:
    old_items, new_items = _items_by_code(project.guideline_version_id), _items_by_code(target.pk)
    answers = list(
        Answer.objects.filter(project=project).select_related("item").prefetch_related("files").order_by("item__code")
    )
    mapping = answer_mapping(old_items=old_items, new_items=new_items, answered=[a.item.code for a in answers])
    dropped = [answer for answer in answers if answer.item.code in set(mapping.removed)]
    diff = version_diff(old=project.guideline_version, new=target)
    return MovePlan(project=project, target=target, mapping=mapping, dropped=dropped, diff=diff)


def newer_version_for(*, project: Project) -> GuidelineVersion | None:
    """The newest published version of the project's set when it is newer than the project's
    and the project may still move (an editable state); else None."""
    if project.status not in MOVABLE_STATUSES:
        return None
    newest = newest_published(guideline_set_id=project.guideline_version.guideline_set_id)
    if newest is None or newest.number <= project.guideline_version.number:
        return None
    return newest


def moved_reread_codes(*, project: Project) -> frozenset[str]:
    """The item codes the project's last move to its current version asked to read again (one
    query). A page that has the answers already shows the note on those still not answered."""
    entry = (
        ActivityEntry.objects.filter(
            project=project, action=Action.CHANGE, object_type="reviews.project", new__has_key="reread"
        )
        .order_by("-at", "-pk")
        .first()
    )
    if entry is None or not isinstance(entry.new, dict):
        return frozenset()
    if entry.new.get("guideline_version_id") != project.guideline_version_id:
        return frozenset()
    return frozenset(str(code) for code in entry.new.get("reread", []))


def reread_items(*, project: Project) -> dict[str, int]:
    """The items to read again after the project's last move to another version: code -> the
    version number they changed in, for the ones whose answer has not been given again since
    (a move resets their status to "not answered", keeping the text)."""
    codes = moved_reread_codes(project=project)
    if not codes:
        return {}
    still = Answer.objects.filter(
        project=project, item__version_id=project.guideline_version_id, item__code__in=sorted(codes), status=""
    ).values_list("item__code", flat=True)
    number = project.guideline_version.number
    return {code: number for code in sorted(still)}
