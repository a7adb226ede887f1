"""Loading, copying and publishing guideline versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from reviews.enums import Action, NotificationKind, VersionStatus
from reviews.models import GuidelineItem, GuidelineSet, GuidelineVersion, Project, ReviewPolicy, Stage, User
from reviews.selectors.catalogue import MOVABLE_STATUSES, version_diff
from reviews.services.activity import activity_record, changed_values, field_values
from reviews.services.notifications import notify

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "catalogue"
DEFAULT_CATALOGUE = CATALOGUE_DIR / "misyn_v1.json"

_ITEM_FIELDS = [
    "requirement",
    "rationale",
    "evidence",
    "basis",
    "basis_note",
    "automation",
    "automation_note",
    "required",
    "audit",
]


class CatalogueError(Exception):
    """A catalogue change that the versioning rules refuse (publish twice, two drafts)."""


def _create_stages_and_items(version: GuidelineVersion, stages: list[dict[str, Any]]) -> None:
    for stage_order, stage_data in enumerate(stages, start=1):
        stage = Stage.objects.create(
            version=version,
            code=stage_data["code"],
            name=stage_data["name"],
            description=stage_data.get("description", ""),
            order=stage_order,
        )
        GuidelineItem.objects.bulk_create(
            GuidelineItem(
                version=version,
                stage=stage,
                code=item["code"],
                order=item_order,
                **{name: item.get(name, "") for name in _ITEM_FIELDS if name != "required"},
                required=bool(item.get("required", True)),
            )
            for item_order, item in enumerate(stage_data["items"], start=1)
        )


@transaction.atomic
def catalogue_load(*, path: Path = DEFAULT_CATALOGUE, actor: User | None = None) -> tuple[GuidelineVersion, bool]:
    """Load a shipped catalogue file as a published version. Idempotent: returns (version, created)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    set_data = data["set"]
    guideline_set, _ = GuidelineSet.objects.get_or_create(
        slug=set_data["slug"], defaults={"name": set_data["name"], "description": set_data.get("description", "")}
    )
    existing = GuidelineVersion.objects.filter(guideline_set=guideline_set, number=data["version"]).first()
    if existing is not None:
        return existing, False
    version = GuidelineVersion.objects.create(
        guideline_set=guideline_set, number=data["version"], notes=data.get("notes", "")
    )
    _create_stages_and_items(version, data["stages"])
    _publish(version=version, actor=actor)
    return version, True


def _publish(*, version: GuidelineVersion, actor: User | None, diff: dict[str, Any] | None = None) -> None:
    now = timezone.now()
    updated = GuidelineVersion.objects.filter(pk=version.pk, status=VersionStatus.DRAFT).update(
        status=VersionStatus.PUBLISHED, published_at=now
    )
    if updated != 1:
        raise CatalogueError("This version is already published.")
    version.status, version.published_at = VersionStatus.PUBLISHED, now
    new: dict[str, Any] = {"status": "published"}
    if diff is not None:
        new["diff"] = diff
    activity_record(actor=actor, action=Action.PUBLISH, obj=version, old={"status": "draft"}, new=new)


@transaction.atomic
def guideline_version_publish(*, version: GuidelineVersion, actor: User) -> GuidelineVersion:
    """Publish a draft: frozen from now on. The log keeps the diff against its parent; the
    owners of projects that may still move (reviews.selectors.catalogue.MOVABLE_STATUSES)
    on an older version of the set are told that a newer one exists."""
    locked = (
        GuidelineVersion.objects.select_for_update(of=("self",))
        .select_related("guideline_set", "parent")
        .get(pk=version.pk)
    )
    if locked.is_published:
        raise CatalogueError("This version is already published.")
    if not GuidelineItem.objects.filter(version=locked).exists():
        raise CatalogueError("A version with no items cannot be published.")
    diff = version_diff(old=locked.parent, new=locked).summary() if locked.parent is not None else None
    _publish(version=locked, actor=actor, diff=diff)
    version.status, version.published_at = locked.status, locked.published_at
    _notify_newer_version(version=locked)
    return locked


def _notify_newer_version(*, version: GuidelineVersion) -> None:
    projects = Project.objects.filter(
        guideline_version__guideline_set_id=version.guideline_set_id,
        guideline_version__number__lt=version.number,
        status__in=sorted(MOVABLE_STATUSES),
    ).select_related("owner")
    for project in projects:
        notify(
            key=f"version-published:{version.pk}:project:{project.pk}",
            recipients=[project.owner],
            kind=NotificationKind.VERSION_PUBLISHED,
            project=project,
            subject=f"A newer guideline version is available: {version}",
            body=(
                f"“{project.title}” follows an older guideline version. {version} is published: "
                "you may move your project to it; the move page shows what happens to each answer first."
            ),
            url=reverse("project-version-move", kwargs={"pk": project.pk}),
        )


@transaction.atomic
def guideline_version_new_draft(*, source: GuidelineVersion, actor: User) -> GuidelineVersion:
    """Start the next version of a set as an editable copy of `source`."""
    guideline_set = GuidelineSet.objects.select_for_update(no_key=True).get(pk=source.guideline_set_id)
    if guideline_set.versions.filter(status=VersionStatus.DRAFT).exists():
        raise CatalogueError("This guideline set already has a draft version; edit or publish that one first.")
    last = guideline_set.versions.order_by("-number").values_list("number", flat=True).first() or 0
    if not source.is_published:
        raise CatalogueError("A draft starts from a published version.")
    draft = GuidelineVersion.objects.create(
        guideline_set=guideline_set, number=last + 1, notes=source.notes, parent=source
    )
    stages = [
        {
            "code": stage.code,
            "name": stage.name,
            "description": stage.description,
            "items": [
                {"code": item.code, **{name: getattr(item, name) for name in _ITEM_FIELDS}}
                for item in stage.items.order_by("order")
            ],
        }
        for stage in source.stages.order_by("order")
    ]
    _create_stages_and_items(draft, stages)
    policy = ReviewPolicy.objects.filter(version=source).first()
    if policy is not None:  # the sign-off policy carries over; admins change it on the new version
        policy.pk, policy.version = None, draft
        policy.save(force_insert=True)
    activity_record(actor=actor, action=Action.CREATE, obj=draft, new={"copied_from": str(source)})
    return draft


# ---------------------------------------------------------------------------------------
# Editing a draft. Every change locks the version row first, so two admins editing the same
# draft take turns: orders are renumbered from what the lock holder reads, never interleaved.

ITEM_EDIT_FIELDS = [
    "stage",
    "requirement",
    "rationale",
    "evidence",
    "required",
    "audit",
    "automation",
    "automation_note",
]
STAGE_EDIT_FIELDS = ["name", "description"]
POLICY_FIELDS = ["approvals_required", "require_technical_and_non_technical", "final_decision", "review_days",
                 "reminder_days"]  # fmt: skip


def _lock_draft(version_id: int) -> GuidelineVersion:
    version = (
        GuidelineVersion.objects.select_for_update(of=("self",)).select_related("guideline_set").get(pk=version_id)
    )
    if version.is_published:
        raise CatalogueError(f"{version} is published and can no longer change; start a new draft from it.")
    return version


def _renumber(rows: list[Any]) -> None:
    for order, row in enumerate(rows, start=1):
        if row.order != order:
            type(row).objects.filter(pk=row.pk).update(order=order)
            row.order = order


@transaction.atomic
def guideline_version_discard(*, version: GuidelineVersion, actor: User) -> None:
    """Delete a draft that no project uses (no project can: projects start on published versions)."""
    locked = _lock_draft(version.pk)
    if Project.objects.filter(guideline_version=locked).exists():
        raise CatalogueError("A project uses this draft, so it cannot be discarded.")
    activity_record(actor=actor, action=Action.DELETE, obj=locked, old={"status": "draft", "number": locked.number})
    GuidelineItem.objects.filter(version=locked).delete()
    Stage.objects.filter(version=locked).delete()
    locked.delete()


@transaction.atomic
def guideline_version_notes_update(*, version: GuidelineVersion, actor: User, notes: str) -> GuidelineVersion:
    locked = _lock_draft(version.pk)
    if locked.notes != notes:
        old = {"notes": locked.notes}
        locked.notes = notes
        locked.save(update_fields=["notes"])
        activity_record(actor=actor, action=Action.CHANGE, obj=locked, old=old, new={"notes": notes})
    return locked


@transaction.atomic
def review_policy_update(*, version: GuidelineVersion, actor: User, data: dict[str, Any]) -> ReviewPolicy:
    locked = _lock_draft(version.pk)
    policy = ReviewPolicy.objects.filter(version=locked).first() or ReviewPolicy(version=locked)
    if data["reminder_days"] >= data["review_days"]:
        raise CatalogueError("Reminders must come before the due date: reminder days must be fewer than review days.")
    before = field_values(policy, POLICY_FIELDS)
    for name in POLICY_FIELDS:
        setattr(policy, name, data[name])
    policy.save()
    old, new = changed_values(before, field_values(policy, POLICY_FIELDS))
    if new:
        activity_record(actor=actor, action=Action.CHANGE, obj=policy, old=old, new=new)
    return policy


def _stage_in(version: GuidelineVersion, stage_id: int) -> Stage:
    stage = Stage.objects.filter(version=version, pk=stage_id).first()
    if stage is None:
        raise CatalogueError("That stage is not part of this version.")
    return stage


@transaction.atomic
def stage_add(*, version: GuidelineVersion, actor: User, code: str, name: str, description: str = "") -> Stage:
    locked = _lock_draft(version.pk)
    if Stage.objects.filter(version=locked, code=code).exists():
        raise CatalogueError(f"A stage with the code {code} already exists in this version.")
    last = Stage.objects.filter(version=locked).aggregate(last=Max("order"))["last"] or 0
    stage = Stage.objects.create(version=locked, code=code, name=name, description=description, order=last + 1)
    activity_record(actor=actor, action=Action.CREATE, obj=stage, new={"code": code, "name": name})
    return stage


@transaction.atomic
def stage_update(*, stage: Stage, actor: User, name: str, description: str) -> Stage:
    locked = _lock_draft(stage.version_id)
    current = _stage_in(locked, stage.pk)
    before = field_values(current, STAGE_EDIT_FIELDS)
    current.name, current.description = name, description
    current.save()
    old, new = changed_values(before, field_values(current, STAGE_EDIT_FIELDS))
    if new:
        activity_record(actor=actor, action=Action.CHANGE, obj=current, old=old, new=new)
    return current


@transaction.atomic
def stage_move(*, stage: Stage, actor: User, step: int) -> Stage:
    """Move a stage one place up (step -1) or down (+1); at either end it stays."""
    locked = _lock_draft(stage.version_id)
    stages = list(Stage.objects.filter(version=locked).order_by("order", "pk"))
    index = next((i for i, s in enumerate(stages) if s.pk == stage.pk), None)
    if index is None:
        raise CatalogueError("That stage is not part of this version.")
    target = index + step
    if 0 <= target < len(stages):
        stages[index], stages[target] = stages[target], stages[index]
        _renumber(stages)
        activity_record(actor=actor, action=Action.CHANGE, obj=stages[target], new={"order": target + 1})
    return stages[target] if 0 <= target < len(stages) else stages[index]


@transaction.atomic
def stage_remove(*, stage: Stage, actor: User) -> None:
    locked = _lock_draft(stage.version_id)
    current = _stage_in(locked, stage.pk)
    if GuidelineItem.objects.filter(stage=current).exists():
        raise CatalogueError(f"Stage {current.code} still has items: move or remove them first.")
    activity_record(actor=actor, action=Action.DELETE, obj=current, old={"code": current.code, "name": current.name})
    current.delete()
    _renumber(list(Stage.objects.filter(version=locked).order_by("order", "pk")))


def _item_values(item: GuidelineItem) -> dict[str, Any]:
    values = field_values(item, ITEM_EDIT_FIELDS)
    values["stage"] = item.stage.code
    return values


@transaction.atomic
def item_add(*, version: GuidelineVersion, actor: User, code: str, data: dict[str, Any]) -> GuidelineItem:
    locked = _lock_draft(version.pk)
    stage = _stage_in(locked, data["stage"].pk)
    if GuidelineItem.objects.filter(version=locked, code=code).exists():
        raise CatalogueError(f"An item with the code {code} already exists in this version.")
    last = GuidelineItem.objects.filter(stage=stage).aggregate(last=Max("order"))["last"] or 0
    item = GuidelineItem.objects.create(
        version=locked, code=code, order=last + 1, **{**{name: data[name] for name in ITEM_EDIT_FIELDS}, "stage": stage}
    )
    activity_record(actor=actor, action=Action.CREATE, obj=item, new={"code": code, **_item_values(item)})
    return item


@transaction.atomic
def item_update(*, item: GuidelineItem, actor: User, data: dict[str, Any]) -> GuidelineItem:
    """Change an item's texts and settings; a new stage moves it to that stage's end."""
    locked = _lock_draft(item.version_id)
    current = GuidelineItem.objects.select_related("stage").get(pk=item.pk, version=locked)
    stage = _stage_in(locked, data["stage"].pk)
    before = _item_values(current)
    old_stage = current.stage
    for name in ITEM_EDIT_FIELDS:
        setattr(current, name, data[name])
    current.stage = stage
    if stage.pk != old_stage.pk:
        current.order = (GuidelineItem.objects.filter(stage=stage).aggregate(last=Max("order"))["last"] or 0) + 1
    current.save()
    if stage.pk != old_stage.pk:
        _renumber(list(GuidelineItem.objects.filter(stage=old_stage).order_by("order", "pk")))
    old, new = changed_values(before, _item_values(current))
    if new:
        activity_record(actor=actor, action=Action.CHANGE, obj=current, old=old, new=new)
    return current


@transaction.atomic
def item_move(*, item: GuidelineItem, actor: User, step: int) -> GuidelineItem:
    """Move an item one place up (-1) or down (+1) within its stage; at either end it stays."""
    _lock_draft(item.version_id)
    current = GuidelineItem.objects.get(pk=item.pk)
    items = list(GuidelineItem.objects.filter(stage_id=current.stage_id).order_by("order", "pk"))
    index = next(i for i, candidate in enumerate(items) if candidate.pk == current.pk)
    target = index + step
    if 0 <= target < len(items):
        items[index], items[target] = items[target], items[index]
        _renumber(items)
        activity_record(
            actor=actor, action=Action.CHANGE, obj=current, old={"order": index + 1}, new={"order": target + 1}
        )
    return current


@transaction.atomic
def item_remove(*, item: GuidelineItem, actor: User) -> None:
    locked = _lock_draft(item.version_id)
    current = GuidelineItem.objects.select_related("stage").get(pk=item.pk, version=locked)
    activity_record(actor=actor, action=Action.DELETE, obj=current, old={"code": current.code, **_item_values(current)})
    stage = current.stage
    current.delete()
    _renumber(list(GuidelineItem.objects.filter(stage=stage).order_by("order", "pk")))
