"""Moving a project to a newer guideline version of its set."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from reviews.enums import Action
from reviews.models import Answer, EvidenceFile, GuidelineItem, GuidelineVersion, Project, User
from reviews.selectors.catalogue import MOVABLE_STATUSES, answer_mapping, newest_published
from reviews.services.activity import activity_record
from reviews.services.catalogue import CatalogueError


def _dropped_record(answer: Answer) -> dict[str, Any]:
    """What the log keeps of an answer the move drops, so its text is never lost."""
    return {
        "status": answer.status,
        "justification": answer.justification,
        "evidence_text": answer.evidence_text,
        "files": [{"name": f.original_name, "sha256": f.sha256} for f in answer.files.all()],
    }


@transaction.atomic
def project_move_version(*, project: Project, actor: User, target: GuidelineVersion) -> Project:
    """Move an editable project to the newest published version of its set.

    Answers are carried by item code (status, justification, evidence text and files stay on
    the answer row, which now points at the new version's item). An answer to an item whose
    requirement, required flag or bound audit changed loses its status ("not answered"), its
    texts kept, so the researcher reads the item again and submission asks for it. Answers to
    items the new version no longer has are dropped, their content kept in the log entry.
    Frozen rounds keep the version they were submitted on (Round.guideline_version).
    """
    locked = (
        Project.objects.select_for_update(no_key=True, of=("self",))
        .select_related("guideline_version")
        .get(pk=project.pk)
    )
    if locked.status not in MOVABLE_STATUSES:
        raise CatalogueError(
            f"This project is {locked.get_status_display().lower()}: only a draft, or a project with changes "
            "requested or an amendment in progress, moves to another guideline version."
        )
    old_version = locked.guideline_version
    newest = newest_published(guideline_set_id=old_version.guideline_set_id)
    if newest is None or newest.pk != target.pk or target.number <= old_version.number:
        raise CatalogueError("The project can move only to the newest published version of its guideline set.")

    old_items = {item.code: item for item in GuidelineItem.objects.filter(version=old_version)}
    new_items = {item.code: item for item in GuidelineItem.objects.filter(version=target)}
    answers = {
        answer.item.code: answer
        for answer in Answer.objects.filter(project=locked).select_related("item").prefetch_related("files")
    }
    mapping = answer_mapping(old_items=old_items, new_items=new_items, answered=answers)

    dropped = {code: _dropped_record(answers[code]) for code in mapping.removed}
    stored = [(f.file.storage, f.file.name) for code in mapping.removed for f in answers[code].files.all()]
    EvidenceFile.objects.filter(answer__in=[answers[code] for code in mapping.removed]).delete()
    Answer.objects.filter(pk__in=[answers[code].pk for code in mapping.removed]).delete()
    for code in mapping.unchanged + mapping.changed:
        answer = answers[code]
        answer.item = new_items[code]
        if code in mapping.changed:
            answer.status = ""
        answer.save(update_fields=["item", "status", "updated_at"])

    locked.guideline_version = target
    locked.save(update_fields=["guideline_version", "updated_at"])
    Project.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    activity_record(
        actor=actor,
        action=Action.CHANGE,
        obj=locked,
        project=locked,
        old={"guideline_version": str(old_version), "dropped_answers": dropped},
        new={
            "guideline_version": str(target),
            "guideline_version_id": target.pk,
            "version_number": target.number,
            "carried": sorted(mapping.unchanged),
            "reread": sorted(mapping.changed),
            "dropped": sorted(mapping.removed),
        },
    )
    # The bytes of dropped files go only once their rows are gone for good.
    for storage, name in stored:
        if name:
            transaction.on_commit(partial(storage.delete, name))
    return locked
