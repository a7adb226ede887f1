"""Loading, copying and publishing guideline versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from reviews.enums import Action, VersionStatus
from reviews.models import GuidelineItem, GuidelineSet, GuidelineVersion, ReviewPolicy, Stage, User
from reviews.services.activity import activity_record

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


def _publish(*, version: GuidelineVersion, actor: User | None) -> None:
    now = timezone.now()
    updated = GuidelineVersion.objects.filter(pk=version.pk, status=VersionStatus.DRAFT).update(
        status=VersionStatus.PUBLISHED, published_at=now
    )
    if updated != 1:
        raise CatalogueError("This version is already published.")
    version.status, version.published_at = VersionStatus.PUBLISHED, now
    activity_record(actor=actor, action=Action.PUBLISH, obj=version, new={"status": "published"})


@transaction.atomic
def guideline_version_publish(*, version: GuidelineVersion, actor: User) -> GuidelineVersion:
    if not GuidelineItem.objects.filter(version=version).exists():
        raise CatalogueError("A version with no items cannot be published.")
    _publish(version=version, actor=actor)
    return version


@transaction.atomic
def guideline_version_new_draft(*, source: GuidelineVersion, actor: User) -> GuidelineVersion:
    """Start the next version of a set as an editable copy of `source`."""
    guideline_set = GuidelineSet.objects.select_for_update(no_key=True).get(pk=source.guideline_set_id)
    if guideline_set.versions.filter(status=VersionStatus.DRAFT).exists():
        raise CatalogueError("This guideline set already has a draft version; edit or publish that one first.")
    last = guideline_set.versions.order_by("-number").values_list("number", flat=True).first() or 0
    draft = GuidelineVersion.objects.create(guideline_set=guideline_set, number=last + 1, notes=source.notes)
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
