"""Projects, checklist answers, evidence files and submission."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from reviews.enums import (
    JUSTIFICATION_REQUIRED,
    Action,
    AnswerStatus,
    AssignmentStatus,
    EventKind,
    NotificationKind,
    ProjectStatus,
)
from reviews.events import event_emit
from reviews.models import Answer, EvidenceFile, GuidelineItem, Project, Round, User
from reviews.selectors import ChecklistRow, guideline_version_current, project_checklist, submission_problems
from reviews.services.activity import activity_record, changed_values, field_values
from reviews.services.notifications import admins, notify
from reviews.signals import round_frozen, round_snapshot_sections
from reviews.validators import ValidatedEvidence

PROJECT_FIELDS = [
    "title",
    "summary",
    "synthesis_task",
    "modalities",
    "generator_family",
    "intended_use",
    "prohibited_uses",
    "data_sources",
]
log = logging.getLogger(__name__)
_ANSWER_FIELDS = ["status", "justification", "evidence_text"]


class ProjectNotEditable(Exception):
    """The project changed state (submitted, say) since the page was loaded."""

    def __init__(self, project: Project) -> None:
        super().__init__(
            f"This project is {project.get_status_display().lower()} and can no longer be changed; "
            "your text is still in the form below."
        )
        self.project = project


class ItemNotInVersion(Exception):
    """The project moved to another guideline version after the item was looked up (a move
    committed between a page's or the API's read and the project's row lock)."""

    def __init__(self) -> None:
        super().__init__(
            "This project moved to another guideline version while this was being saved, so nothing was saved: "
            "read the checklist again, then save once more."
        )


class SubmissionIncomplete(Exception):
    def __init__(self, problems: list[ChecklistRow]) -> None:
        super().__init__(f"{len(problems)} checklist item(s) are missing or unjustified.")
        self.problems = problems


def _lock_editable(project: Project) -> Project:
    """Lock the project row for this transaction and check it may still change."""
    locked = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    if not locked.is_editable:
        raise ProjectNotEditable(locked)
    return locked


@transaction.atomic
def project_create(*, actor: User, data: dict[str, Any]) -> Project:
    version = guideline_version_current()
    if version is None:
        raise RuntimeError("No published guideline version exists; run `manage.py load_catalogue`.")
    project = Project.objects.create(owner=actor, guideline_version=version, **{k: data[k] for k in PROJECT_FIELDS})
    activity_record(
        actor=actor,
        action=Action.CREATE,
        obj=project,
        project=project,
        new={**field_values(project, PROJECT_FIELDS), "guideline_version": str(version)},
    )
    return project


@transaction.atomic
def project_update(*, actor: User, project: Project, data: dict[str, Any]) -> Project:
    """Write the fields given in `data` to the locked row, and only those: a client that sends
    one field must not write back the rest as it read them before the lock, undoing an edit
    committed in between (the page's form sends every field, as its user saw and typed them)."""
    locked = _lock_editable(project)
    given = [name for name in PROJECT_FIELDS if name in data]
    before = field_values(locked, PROJECT_FIELDS)
    for name in given:
        setattr(locked, name, data[name])
    locked.save(update_fields=[*given, "updated_at"])
    old, new = changed_values(before, field_values(locked, PROJECT_FIELDS))
    if new:
        activity_record(actor=actor, action=Action.CHANGE, obj=locked, project=locked, old=old, new=new)
    return locked


def answer_save(
    *,
    actor: User,
    project: Project,
    item: GuidelineItem,
    status: AnswerStatus | str,
    justification: str,
    evidence_text: str,
    files: list[ValidatedEvidence] | None = None,
) -> Answer:
    """Save one answer and attach any new evidence files, all or nothing.

    The bytes are written to storage first, before the project's row lock and the activity
    log's chain head are taken, so a large file never holds up other people's writes; they
    are removed again if the transaction fails, so no file outlives its row.
    """
    staged: list[EvidenceFile] = []
    try:
        for evidence in files or []:
            staged.append(_evidence_stage(actor=actor, evidence=evidence))
        with transaction.atomic():
            answer = _answer_save(
                actor=actor,
                project=project,
                item=item,
                status=status,
                justification=justification,
                evidence_text=evidence_text,
            )
            for record in staged:
                _evidence_attach(actor=actor, answer=answer, record=record)
            return answer
    except BaseException:
        for record in staged:
            _delete_stored(record)
        raise


def evidence_add(
    *, actor: User, project: Project, item: GuidelineItem, files: list[ValidatedEvidence]
) -> list[EvidenceFile]:
    """Attach evidence files to one item's answer and leave what the answer says as it is (the
    API sends a file at a time); an item not answered yet gets an empty answer to hold them.

    Staged like answer_save: the bytes first, removed again if the transaction fails. The
    answer is read under the project's row lock, so a concurrent save of its text is not undone.
    """
    staged: list[EvidenceFile] = []
    try:
        for evidence in files:
            staged.append(_evidence_stage(actor=actor, evidence=evidence))
        with transaction.atomic():
            locked = _lock_editable(project)
            if item.version_id != locked.guideline_version_id:
                raise ItemNotInVersion()
            answer, _created = Answer.objects.get_or_create(project=locked, item=item, defaults={"updated_by": actor})
            answer.project = locked
            for record in staged:
                _evidence_attach(actor=actor, answer=answer, record=record)
            Project.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
            return staged
    except BaseException:
        for record in staged:
            _delete_stored(record)
        raise


def _answer_save(
    *, actor: User, project: Project, item: GuidelineItem, status: str, justification: str, evidence_text: str
) -> Answer:
    locked = _lock_editable(project)
    if item.version_id != locked.guideline_version_id:
        raise ItemNotInVersion()
    justification = justification.strip()
    if status in JUSTIFICATION_REQUIRED and not justification:
        raise ValueError("A justification is required for 'not met' and 'not applicable'.")
    answer, created = Answer.objects.get_or_create(project=locked, item=item)
    answer.project = locked
    before = {} if created else field_values(answer, _ANSWER_FIELDS)
    answer.status, answer.justification, answer.evidence_text = status, justification, evidence_text
    answer.updated_by = actor
    answer.save()
    old, new = changed_values(before, field_values(answer, _ANSWER_FIELDS))
    if new:
        action = Action.CREATE if created else Action.CHANGE
        activity_record(actor=actor, action=action, obj=answer, project=locked, old=None if created else old, new=new)
    Project.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    return answer


def _delete_stored(record: EvidenceFile) -> None:
    if record.file.name:
        record.file.storage.delete(record.file.name)


def _evidence_stage(*, actor: User, evidence: ValidatedEvidence) -> EvidenceFile:
    """Write the bytes under a random name; the row is saved by _evidence_attach."""
    record = EvidenceFile(
        original_name=evidence.name,
        content_type=evidence.content_type,
        size=evidence.size,
        sha256=evidence.sha256,
        uploaded_by=actor,
    )
    record.file.save(evidence.name, evidence.upload, save=False)
    return record


def _evidence_attach(*, actor: User, answer: Answer, record: EvidenceFile) -> EvidenceFile:
    record.answer = answer
    record.save()
    activity_record(
        actor=actor,
        action=Action.UPLOAD,
        obj=record,
        project=answer.project,
        new={"item": answer.item.code, "name": record.original_name, "sha256": record.sha256, "size": record.size},
    )
    return record


@transaction.atomic
def evidence_delete(*, actor: User, evidence: EvidenceFile) -> None:
    answer = evidence.answer
    locked = _lock_editable(answer.project)
    name, storage = evidence.file.name or "", evidence.file.storage
    activity_record(
        actor=actor,
        action=Action.DELETE,
        obj=evidence,
        project=locked,
        old={"item": answer.item.code, "name": evidence.original_name, "sha256": evidence.sha256},
    )
    evidence.delete()
    # The bytes go only once the row is gone for good; a store that is down then leaves them to the
    # storage sweep (no row names them any more), and the committed delete is not turned into an error.
    if name:
        transaction.on_commit(lambda: _delete_quietly(storage, name))


def _delete_quietly(storage: Any, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:
        log.exception("could not delete the evidence file %s; the storage sweep will", name)


def evidence_needed(names: list[str]) -> set[str]:
    """`evidence/<random>`: the files an evidence row names (config.storage.sweep)."""
    return set(EvidenceFile.objects.filter(file__in=names).values_list("file", flat=True))


def _round_snapshot(*, project: Project, number: int, actor: User, at: Any) -> dict[str, Any]:
    checklist = project_checklist(project=project)
    version = project.guideline_version
    sections: dict[str, Any] = {}
    for _receiver, section in round_snapshot_sections.send(sender=Project, project=project):
        if isinstance(section, dict):
            sections.update(section)
    return {
        **sections,
        "format": "misyn-round/1",
        "round": number,
        "submitted_at": at.isoformat(),
        "submitted_by": actor.username,
        "guideline_version": {"set": version.guideline_set.slug, "number": version.number},
        "project": {"id": project.pk, "owner": project.owner.username, **field_values(project, PROJECT_FIELDS)},
        "answers": [
            {
                "stage": stage.stage.code,
                "item": row.item.code,
                "required": row.item.required,
                "status": row.status,
                "justification": row.answer.justification if row.answer else "",
                "evidence_text": row.answer.evidence_text if row.answer else "",
                "files": [
                    {"name": f.original_name, "sha256": f.sha256, "size": f.size, "content_type": f.content_type}
                    for f in (row.answer.files.all() if row.answer else [])
                ],
            }
            for stage in checklist
            for row in stage.rows
        ],
    }


def canonical_json(data: dict[str, Any]) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@transaction.atomic
def project_submit(*, actor: User, project: Project, public_listing: bool | None = None) -> Round:
    """Freeze the next round: an immutable snapshot with the SHA-256 of its canonical JSON.

    `public_listing` is the researcher's choice, asked at each submission, to list the project
    on the public register once approved (None keeps the last choice); it is logged with the
    submission.
    """
    locked = _lock_editable(project)
    problems = submission_problems(checklist=project_checklist(project=locked))
    if problems:
        raise SubmissionIncomplete(problems)
    number = (locked.rounds.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    now = timezone.now()
    text = canonical_json(_round_snapshot(project=locked, number=number, actor=actor, at=now))
    round_ = Round.objects.create(
        project=locked,
        number=number,
        guideline_version_id=locked.guideline_version_id,
        canonical_json=text,
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        submitted_by=actor,
        submitted_at=now,
    )
    old_status, old_listing = locked.status, locked.public_listing
    reviewing = locked.assignments.filter(status=AssignmentStatus.ACCEPTED).exists()
    locked.status = ProjectStatus.IN_REVIEW if reviewing else ProjectStatus.SUBMITTED
    if public_listing is not None:
        locked.public_listing = public_listing
    locked.save(update_fields=["status", "public_listing", "updated_at"])
    round_frozen.send(sender=Project, project=locked, round=round_, actor=actor)
    old: dict[str, Any] = {"status": old_status}
    new: dict[str, Any] = {"status": locked.status, "round": number, "digest": round_.digest}
    if public_listing is not None:
        old["public_listing"], new["public_listing"] = old_listing, public_listing
    activity_record(actor=actor, action=Action.SUBMIT, obj=round_, project=locked, old=old, new=new)
    event_emit(event=EventKind.PROJECT_SUBMITTED, project=locked, data={"round": number, "digest": round_.digest})
    if number > 1:
        from reviews.services.decisions import notify_resubmission

        notify_resubmission(project=locked, round_=round_)
    else:
        notify(
            key=f"submitted:{round_.pk}",
            recipients=admins(),
            kind=NotificationKind.SUBMITTED,
            project=locked,
            subject=f"New submission: {locked.title}",
            body=f"{actor.display_name} submitted “{locked.title}” for review. Assign reviewers.",
            url=reverse("assignment-list", kwargs={"pk": locked.pk}),
        )
    return round_
