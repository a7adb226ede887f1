"""The write services of the reviews app: projects, answers, evidence, submission, catalogue,
accounts, and the append-only activity log they all write to."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviews.enums import EDITABLE_STATUSES, Action, AnswerStatus, ExpertiseKind, ProjectStatus, Role, VersionStatus
from reviews.models import (
    ActivityEntry,
    Answer,
    EvidenceFile,
    GuidelineItem,
    GuidelineSet,
    GuidelineVersion,
    Project,
    Round,
    Stage,
    User,
)
from reviews.models.catalogue import PublishedVersionError
from reviews.selectors import project_checklist
from reviews.services.accounts import user_create, user_register, user_update
from reviews.services.catalogue import (
    CatalogueError,
    catalogue_load,
    guideline_version_new_draft,
    guideline_version_publish,
)
from reviews.services.projects import (
    ItemNotInVersion,
    ProjectNotEditable,
    SubmissionIncomplete,
    answer_save,
    evidence_delete,
    project_create,
    project_submit,
    project_update,
)
from reviews.validators import ValidatedEvidence, validate_evidence_file

OPTIONAL = {"EV-5", "EV-8", "DS-4", "DS-7", "DS-9", "DM-4", "OV-5"}
STAGE_CODES = ["PF", "DC", "DD", "EV", "DS", "DM", "OV"]
NOT_EDITABLE = [status for status in ProjectStatus if status not in EDITABLE_STATUSES]

PROJECT_DATA = {
    "title": "Synthetic knee MRI for meniscus tear detection",
    "summary": "A GAN translates PD-weighted to T2-weighted knee MRI.",
    "synthesis_task": "image_to_image",
    "modalities": ["MR"],
    "generator_family": "gan",
    "intended_use": "Training a meniscus tear classifier.",
    "prohibited_uses": "Diagnosis of individual patients.",
    "data_sources": "fastMRI knee (NYU licence), accessed 2025-02-01.",
}


def evidence(name: str = "consent form.txt", content: bytes = b"Consent obtained from all participants.\n"):
    """A real upload, checked the way the answer form checks it."""
    return validate_evidence_file(SimpleUploadedFile(name, content, content_type="application/octet-stream"))


def stored_files() -> dict[Path, bytes]:
    root = Path(settings.PRIVATE_STORAGE_ROOT)
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


def answer_required(project: Project, actor: User, items: dict[str, GuidelineItem], *, skip: tuple[str, ...] = ()):
    """Answer every required item 'met' through the service."""
    for code, item in items.items():
        if item.required and code not in skip:
            answer_save(actor=actor, project=project, item=item, status="met", justification="", evidence_text="")


def set_status(project: Project, status: str) -> None:
    Project.objects.filter(pk=project.pk).update(status=status)
    project.refresh_from_db()


def log_for(obj) -> list[ActivityEntry]:
    return list(ActivityEntry.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by("pk"))


# --- projects ----------------------------------------------------------------------------


def test_project_create_takes_current_version_and_logs_it(catalogue, researcher):
    project = project_create(actor=researcher, data=PROJECT_DATA)

    project.refresh_from_db()
    assert project.owner == researcher
    assert project.guideline_version == catalogue
    assert project.status == ProjectStatus.DRAFT
    assert project.title == PROJECT_DATA["title"]
    [entry] = ActivityEntry.objects.filter(project=project)
    assert entry.actor == researcher
    assert entry.actor_name == "Rosa Researcher"
    assert entry.action == Action.CREATE
    assert (entry.object_type, entry.object_id) == ("reviews.project", str(project.pk))
    assert entry.old is None
    assert entry.new == {**PROJECT_DATA, "guideline_version": "MISyn ethical review guidelines v1"}


def test_project_create_without_a_published_catalogue_creates_nothing(researcher):
    with pytest.raises(RuntimeError, match="load_catalogue"):
        project_create(actor=researcher, data=PROJECT_DATA)
    assert not Project.objects.exists()
    assert not ActivityEntry.objects.exists()


def test_project_update_logs_only_changed_fields(project, researcher):
    old_title = project.title
    data = {**{name: getattr(project, name) for name in PROJECT_DATA}, "title": "Renamed", "modalities": ["MR", "CT"]}

    project_update(actor=researcher, project=project, data=data)

    project.refresh_from_db()
    assert (project.title, project.modalities) == ("Renamed", ["MR", "CT"])
    [entry] = ActivityEntry.objects.filter(project=project, action=Action.CHANGE)
    assert entry.actor == researcher
    assert entry.old == {"title": old_title, "modalities": ["XR"]}
    assert entry.new == {"title": "Renamed", "modalities": ["MR", "CT"]}

    # Saving the same values again records nothing.
    project_update(actor=researcher, project=project, data=data)
    assert ActivityEntry.objects.filter(project=project, action=Action.CHANGE).count() == 1


def test_project_update_allowed_when_changes_were_requested(project, researcher):
    set_status(project, ProjectStatus.CHANGES_REQUESTED)
    data = {**{name: getattr(project, name) for name in PROJECT_DATA}, "summary": "Revised summary."}
    project_update(actor=researcher, project=project, data=data)
    project.refresh_from_db()
    assert project.summary == "Revised summary."


@pytest.mark.parametrize("status", NOT_EDITABLE)
def test_project_update_refused_once_submitted(project, researcher, status):
    set_status(project, status)
    with pytest.raises(ProjectNotEditable, match="can no longer be changed"):
        project_update(actor=researcher, project=project, data={**PROJECT_DATA, "title": "Sneaky edit"})
    project.refresh_from_db()
    assert project.title == "Secret brain MRI project"
    assert not ActivityEntry.objects.filter(project=project).exists()


# --- answers -----------------------------------------------------------------------------


def test_answer_save_creates_then_changes_with_one_log_row_each(project, researcher, items):
    item = items["PF-1"]
    answer_save(
        actor=researcher, project=project, item=item, status="met", justification="", evidence_text="See section 2."
    )
    answer_save(
        actor=researcher,
        project=project,
        item=item,
        status="not_met",
        justification="  The clinical need is not yet documented.  ",
        evidence_text="See section 2.",
    )

    [answer] = Answer.objects.filter(project=project)
    assert answer.item == item
    assert answer.status == AnswerStatus.NOT_MET
    assert answer.justification == "The clinical need is not yet documented."
    assert answer.updated_by == researcher
    created, changed = log_for(answer)
    assert (created.action, created.actor, created.project) == (Action.CREATE, researcher, project)
    assert created.new == {"status": "met", "justification": "", "evidence_text": "See section 2."}
    assert (changed.action, changed.actor, changed.project) == (Action.CHANGE, researcher, project)
    assert changed.old == {"status": "met", "justification": ""}
    assert changed.new == {"status": "not_met", "justification": "The clinical need is not yet documented."}


def test_answer_creation_log_row_has_no_old_values(project, researcher, items):
    """A new answer had no previous values; the history page must not show a row of nulls."""
    answer = answer_save(
        actor=researcher, project=project, item=items["PF-1"], status="met", justification="", evidence_text=""
    )
    [created] = log_for(answer)
    assert created.old is None


def test_answer_save_without_change_logs_nothing(project, researcher, items):
    for _ in range(2):
        answer = answer_save(
            actor=researcher, project=project, item=items["PF-1"], status="met", justification="", evidence_text=""
        )
    assert len(log_for(answer)) == 1


@pytest.mark.parametrize("status", [AnswerStatus.NOT_MET, AnswerStatus.NOT_APPLICABLE])
def test_answer_save_requires_a_justification(project, researcher, items, status):
    with pytest.raises(ValueError, match="justification is required"):
        answer_save(
            actor=researcher, project=project, item=items["PF-1"], status=status, justification="   ", evidence_text=""
        )
    assert not Answer.objects.exists()
    assert not ActivityEntry.objects.filter(project=project).exists()


@pytest.mark.parametrize("status", [AnswerStatus.NOT_MET, AnswerStatus.NOT_APPLICABLE])
def test_database_refuses_an_unjustified_answer(project, items, status):
    with pytest.raises(IntegrityError, match="answer_justified_when_not_met"), transaction.atomic():
        Answer.objects.create(project=project, item=items["PF-1"], status=status, justification="")
    assert not Answer.objects.exists()
    # The same write with a reason, or with another status, is accepted.
    Answer.objects.create(project=project, item=items["PF-1"], status=status, justification="No patient data.")
    Answer.objects.create(project=project, item=items["PF-2"], status=AnswerStatus.MET, justification="")
    assert Answer.objects.count() == 2


def test_answer_save_refuses_an_item_of_another_version(project, researcher, catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    foreign = GuidelineItem.objects.get(version=draft, code="PF-1")
    with pytest.raises(ItemNotInVersion, match="moved to another guideline version"):
        answer_save(actor=researcher, project=project, item=foreign, status="met", justification="", evidence_text="")
    assert not Answer.objects.exists()


# --- evidence files ----------------------------------------------------------------------


def test_evidence_stored_privately_under_a_random_name(project, researcher, items):
    content = b"participant,consent\n1,yes\n2,yes\n"
    upload = evidence("Consent register (Smith, J).csv", content)

    answer = answer_save(
        actor=researcher, project=project, item=items["DC-1"], status="met", justification="", evidence_text="",
        files=[upload, evidence("Consent register (Smith, J).csv", content)],
    )  # fmt: skip

    first, second = answer.files.order_by("pk")
    assert first.original_name == "Consent register (Smith, J).csv"
    assert first.content_type == "text/csv"
    assert first.size == len(content)
    assert first.sha256 == hashlib.sha256(content).hexdigest()
    assert first.uploaded_by == researcher
    # On disk: inside the private folder, named at random, never after the user's file name.
    path = Path(first.file.path).resolve()
    assert path.is_relative_to(Path(settings.PRIVATE_STORAGE_ROOT).resolve())
    assert path.read_bytes() == content
    assert "Consent" not in first.file.name and "Smith" not in first.file.name
    assert path.stat().st_mode & 0o777 == 0o600
    assert first.file.name != second.file.name
    uploads = ActivityEntry.objects.filter(project=project, action=Action.UPLOAD).order_by("pk")
    assert [(entry.actor, entry.object_id) for entry in uploads] == [
        (researcher, str(first.pk)),
        (researcher, str(second.pk)),
    ]
    assert uploads[0].new == {
        "item": "DC-1",
        "name": "Consent register (Smith, J).csv",
        "sha256": hashlib.sha256(content).hexdigest(),
        "size": len(content),
    }


def _broken_evidence(content: bytes) -> ValidatedEvidence:
    """A file whose row the database refuses (negative size) after its bytes were stored."""
    upload = SimpleUploadedFile("broken.txt", content)
    return ValidatedEvidence(upload=upload, name="broken.txt", content_type="text/plain", size=-1, sha256="0" * 64)


def test_failed_save_removes_the_files_it_had_already_stored(project, researcher, items):
    before = stored_files()
    good = b"first file, stored and given a row before the failure\n"

    with pytest.raises(IntegrityError):
        answer_save(
            actor=researcher, project=project, item=items["DC-1"], status="met", justification="", evidence_text="",
            files=[evidence("good.txt", good), _broken_evidence(b"second file\n")],
        )  # fmt: skip

    new_files = {path: data for path, data in stored_files().items() if path not in before}
    assert good not in new_files.values()
    assert not Answer.objects.exists()
    assert not EvidenceFile.objects.exists()
    assert not ActivityEntry.objects.filter(project=project).exists()


def test_failed_save_leaves_no_file_on_disk(project, researcher, items):
    """Also the file whose own row failed: its bytes were written before the insert."""
    before = stored_files()

    with pytest.raises(IntegrityError):
        answer_save(
            actor=researcher, project=project, item=items["DC-1"], status="met", justification="", evidence_text="",
            files=[evidence("good.txt", b"first\n"), _broken_evidence(b"the file whose row failed\n")],
        )  # fmt: skip

    left_behind = {path.name: data for path, data in stored_files().items() if path not in before}
    assert left_behind == {}


@pytest.mark.parametrize("status", NOT_EDITABLE)
def test_answer_save_refused_when_not_editable_changes_nothing(project, researcher, items, status):
    answer = answer_save(
        actor=researcher, project=project, item=items["PF-1"], status="met", justification="", evidence_text="v1",
        files=[evidence("plan.txt", b"plan\n")],
    )  # fmt: skip
    set_status(project, status)
    files_before, log_before = stored_files(), ActivityEntry.objects.count()

    with pytest.raises(ProjectNotEditable):
        answer_save(
            actor=researcher, project=project, item=items["PF-1"], status="not_met", justification="Changed my mind",
            evidence_text="v2", files=[evidence("late.txt", b"too late\n")],
        )  # fmt: skip

    answer.refresh_from_db()
    assert (answer.status, answer.justification, answer.evidence_text) == ("met", "", "v1")
    assert [f.original_name for f in answer.files.all()] == ["plan.txt"]
    assert stored_files() == files_before
    assert ActivityEntry.objects.count() == log_before


def test_evidence_delete_removes_row_and_bytes_after_commit(
    project, researcher, items, django_capture_on_commit_callbacks
):
    content = b"Data-use agreement, signed.\n"
    answer = answer_save(
        actor=researcher, project=project, item=items["DC-2"], status="met", justification="", evidence_text="",
        files=[evidence("DUA.txt", content)],
    )  # fmt: skip
    record = answer.files.get()
    path = Path(record.file.path)
    record_pk = record.pk

    with django_capture_on_commit_callbacks(execute=True):
        evidence_delete(actor=researcher, evidence=record)
        # Until the transaction commits, the bytes stay: a rollback must not lose them.
        assert path.read_bytes() == content

    assert not path.exists()
    assert not EvidenceFile.objects.filter(pk=record_pk).exists()
    [entry] = ActivityEntry.objects.filter(project=project, action=Action.DELETE)
    assert (entry.actor, entry.object_type, entry.object_id) == (researcher, "reviews.evidencefile", str(record_pk))
    assert entry.old == {"item": "DC-2", "name": "DUA.txt", "sha256": hashlib.sha256(content).hexdigest()}
    assert entry.new is None


def test_evidence_delete_refused_once_submitted(project, researcher, items, django_capture_on_commit_callbacks):
    answer = answer_save(
        actor=researcher, project=project, item=items["DC-2"], status="met", justification="", evidence_text="",
        files=[evidence("DUA.txt", b"signed\n")],
    )  # fmt: skip
    record = answer.files.get()
    set_status(project, ProjectStatus.SUBMITTED)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ProjectNotEditable):
        evidence_delete(actor=researcher, evidence=record)

    assert EvidenceFile.objects.filter(pk=record.pk).exists()
    assert Path(record.file.path).read_bytes() == b"signed\n"
    assert not ActivityEntry.objects.filter(action=Action.DELETE).exists()


# --- submission --------------------------------------------------------------------------


def test_submit_incomplete_lists_exactly_the_blocking_items(project, researcher, items):
    answer_required(project, researcher, items, skip=("PF-2", "OV-4", "DC-3"))
    # An old row whose justification is only blank space (the database check lets it through).
    Answer.objects.create(project=project, item=items["DC-3"], status=AnswerStatus.NOT_APPLICABLE, justification="  ")

    with pytest.raises(SubmissionIncomplete) as caught:
        project_submit(actor=researcher, project=project)

    problems = [(row.item.code, row.problem) for row in caught.value.problems]
    # Unanswered optional items (EV-5, DS-4, ...) do not block.
    assert problems == [("PF-2", "not answered"), ("DC-3", "needs a justification"), ("OV-4", "not answered")]
    project.refresh_from_db()
    assert project.status == ProjectStatus.DRAFT
    assert not Round.objects.exists()
    assert not ActivityEntry.objects.filter(action=Action.SUBMIT).exists()


def test_submit_with_nothing_answered_lists_every_required_item(project, researcher, items):
    with pytest.raises(SubmissionIncomplete) as caught:
        project_submit(actor=researcher, project=project)
    codes = {row.item.code for row in caught.value.problems}
    assert codes == set(items) - OPTIONAL
    assert len(codes) == 38


def test_complete_submission_freezes_round_one(project, researcher, items):
    answer_required(project, researcher, items)
    report = b"FID 12.3 against a real-vs-real baseline of 11.8\n"
    answer_save(
        actor=researcher, project=project, item=items["EV-1"], status="met", justification="", evidence_text="",
        files=[evidence("fidelity.txt", report)],
    )  # fmt: skip
    answer_save(
        actor=researcher, project=project, item=items["DS-4"], status="not_applicable",
        justification="Keine Veröffentlichung - internal use only", evidence_text="",
    )  # fmt: skip

    round_ = project_submit(actor=researcher, project=project)

    round_.refresh_from_db()
    assert round_.number == 1
    assert round_.guideline_version == project.guideline_version
    assert round_.submitted_by == researcher
    assert round_.digest == hashlib.sha256(round_.canonical_json.encode("utf-8")).hexdigest()
    snapshot = json.loads(round_.canonical_json)
    canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert round_.canonical_json == canonical
    assert "Keine Veröffentlichung - internal" in round_.canonical_json
    assert snapshot["guideline_version"] == {"set": "misyn", "number": 1}
    assert snapshot["round"] == 1
    assert snapshot["project"]["title"] == "Secret brain MRI project"
    answers = {entry["item"]: entry for entry in snapshot["answers"]}
    assert len(snapshot["answers"]) == 45
    assert set(answers) == set(items)
    assert all(answers[code]["status"] == "met" for code in set(items) - OPTIONAL)
    assert answers["EV-1"]["files"] == [
        {
            "name": "fidelity.txt",
            "sha256": hashlib.sha256(report).hexdigest(),
            "size": len(report),
            "content_type": "text/plain",
        }
    ]
    assert answers["DS-4"]["status"] == "not_applicable"
    assert answers["DS-4"]["justification"] == "Keine Veröffentlichung - internal use only"
    assert answers["EV-5"]["status"] == ""
    project.refresh_from_db()
    assert project.status == ProjectStatus.SUBMITTED
    [entry] = ActivityEntry.objects.filter(project=project, action=Action.SUBMIT)
    assert entry.actor == researcher
    assert entry.old == {"status": "draft"}
    assert entry.new == {"status": "submitted", "round": 1, "digest": round_.digest}


def test_second_submit_is_refused(project, researcher, items):
    answer_required(project, researcher, items)
    project_submit(actor=researcher, project=project)
    with pytest.raises(ProjectNotEditable):
        project_submit(actor=researcher, project=project)
    assert Round.objects.filter(project=project).count() == 1


def test_resubmission_after_requested_changes_freezes_round_two(project, researcher, items):
    answer_required(project, researcher, items)
    first = project_submit(actor=researcher, project=project)
    set_status(project, ProjectStatus.CHANGES_REQUESTED)
    answer_save(
        actor=researcher, project=project, item=items["PF-1"], status="partly_met", justification="", evidence_text=""
    )
    second = project_submit(actor=researcher, project=project)
    assert second.number == 2
    assert second.digest != first.digest
    assert json.loads(first.canonical_json)["answers"][0]["status"] == "met"
    assert json.loads(second.canonical_json)["answers"][0]["status"] == "partly_met"


def test_round_refuses_save_and_delete(project, researcher, items):
    answer_required(project, researcher, items)
    round_ = project_submit(actor=researcher, project=project)
    digest = round_.digest

    round_.canonical_json = "{}"
    with pytest.raises(ValueError, match="immutable"):
        round_.save()
    with pytest.raises(ValueError, match="immutable"):
        round_.delete()

    stored = Round.objects.get(pk=round_.pk)
    assert stored.digest == digest
    assert stored.digest == hashlib.sha256(stored.canonical_json.encode()).hexdigest()


# --- catalogue ---------------------------------------------------------------------------


def _catalogue_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (GuidelineSet, GuidelineVersion, Stage, GuidelineItem, ActivityEntry)
    }


def test_catalogue_load_is_idempotent(catalogue):
    before = _catalogue_counts()
    version, created = catalogue_load()
    assert (version, created) == (catalogue, False)
    assert _catalogue_counts() == before


def test_catalogue_has_45_items_in_7_stages(catalogue):
    stages = list(Stage.objects.filter(version=catalogue).order_by("order"))
    assert [stage.code for stage in stages] == STAGE_CODES
    items = GuidelineItem.objects.filter(version=catalogue)
    assert items.count() == 45
    assert {item.code for item in items if not item.required} == OPTIONAL
    assert all(item.stage.version_id == catalogue.pk for item in items.select_related("stage"))
    assert catalogue.status == VersionStatus.PUBLISHED
    assert catalogue.published_at is not None
    [published] = log_for(catalogue)
    assert (published.action, published.actor, published.actor_name) == (Action.PUBLISH, None, "system")


def test_published_stages_and_items_refuse_change(catalogue, items):
    item = items["PF-1"]
    requirement = item.requirement
    item.requirement = "Anything goes."
    with pytest.raises(PublishedVersionError):
        item.save()
    with pytest.raises(PublishedVersionError):
        item.delete()
    stage = Stage.objects.get(version=catalogue, code="PF")
    stage.name = "Renamed"
    with pytest.raises(PublishedVersionError):
        stage.save()
    with pytest.raises(PublishedVersionError):
        stage.delete()
    assert GuidelineItem.objects.get(pk=item.pk).requirement == requirement
    assert Stage.objects.get(pk=stage.pk).name == "Problem formulation"
    assert GuidelineItem.objects.filter(version=catalogue).count() == 45


def _item_rows(version: GuidelineVersion) -> list[tuple]:
    return list(
        GuidelineItem.objects.filter(version=version)
        .order_by("stage__order", "order")
        .values_list(
            "stage__code", "stage__name", "stage__order", "code", "order", "requirement", "rationale", "evidence",
            "basis", "basis_note", "automation", "automation_note", "required", "audit",
        )
    )  # fmt: skip


def test_new_draft_copies_every_stage_and_item_and_is_editable(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)

    draft.refresh_from_db()
    assert (draft.number, draft.status, draft.published_at) == (2, VersionStatus.DRAFT, None)
    assert draft.guideline_set_id == catalogue.guideline_set_id
    assert _item_rows(draft) == _item_rows(catalogue)
    assert Stage.objects.filter(version=draft).count() == 7
    assert not GuidelineItem.objects.filter(version=draft).exclude(stage__version=draft).exists()
    [created] = log_for(draft)
    assert (created.action, created.actor) == (Action.CREATE, admin_user)

    item = GuidelineItem.objects.get(version=draft, code="PF-1")
    item.requirement = "A sharper requirement."
    item.save()
    GuidelineItem.objects.get(version=draft, code="OV-5").delete()
    assert GuidelineItem.objects.get(pk=item.pk).requirement == "A sharper requirement."
    assert GuidelineItem.objects.filter(version=draft).count() == 44
    assert GuidelineItem.objects.filter(version=catalogue).count() == 45


def test_only_one_draft_at_a_time(catalogue, admin_user):
    guideline_version_new_draft(source=catalogue, actor=admin_user)
    with pytest.raises(CatalogueError, match="already has a draft"):
        guideline_version_new_draft(source=catalogue, actor=admin_user)
    assert GuidelineVersion.objects.count() == 2


def test_publishing_freezes_the_draft(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    guideline_version_publish(version=draft, actor=admin_user)

    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED
    assert draft.published_at is not None
    item = GuidelineItem.objects.get(version=draft, code="PF-1")
    item.requirement = "Too late."
    with pytest.raises(PublishedVersionError):
        item.save()
    with pytest.raises(CatalogueError, match="already published"):
        guideline_version_publish(version=draft, actor=admin_user)
    assert log_for(draft)[-1].action == Action.PUBLISH
    assert log_for(draft)[-1].actor == admin_user


def test_projects_keep_their_version_when_a_new_one_is_published(project, catalogue, researcher, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    during_draft = project_create(actor=researcher, data=PROJECT_DATA)
    assert during_draft.guideline_version == catalogue

    guideline_version_publish(version=draft, actor=admin_user)
    later = project_create(actor=researcher, data={**PROJECT_DATA, "title": "Later project"})

    project.refresh_from_db()
    assert project.guideline_version == catalogue
    assert later.guideline_version == draft
    rows = [row for stage in project_checklist(project=project) for row in stage.rows]
    assert len(rows) == 45
    assert {row.item.version_id for row in rows} == {catalogue.pk}


# --- accounts ----------------------------------------------------------------------------


def test_user_register_makes_a_researcher_with_an_argon2_hash(db):
    user = user_register(
        username="nadia", email="nadia@example.org", full_name="Nadia N", affiliation="Uni", password="plum-sky-4471"
    )
    user.refresh_from_db()
    assert user.role == Role.RESEARCHER
    assert user.expertise == ""
    assert not user.is_staff and not user.is_superuser
    assert user.password.startswith("argon2")
    assert "plum-sky-4471" not in user.password
    assert user.check_password("plum-sky-4471")
    [entry] = log_for(user)
    assert (entry.action, entry.actor) == (Action.CREATE, user)
    assert entry.new["username"] == "nadia"
    assert entry.new["role"] == "researcher"
    assert "password" not in entry.new


def test_user_create_makes_a_reviewer_with_expertise(admin_user):
    user = user_create(
        actor=admin_user, username="cleo", email="cleo@example.org", full_name="Cleo Clinician", affiliation="Hospital",
        role=Role.REVIEWER, expertise=ExpertiseKind.CLINICAL,
    )  # fmt: skip
    user.refresh_from_db()
    assert (user.role, user.expertise, user.is_staff) == (Role.REVIEWER, ExpertiseKind.CLINICAL, False)
    assert not user.has_usable_password()  # its owner chooses it through the emailed invitation
    [entry] = log_for(user)
    assert (entry.action, entry.actor) == (Action.CREATE, admin_user)
    assert entry.new["expertise"] == "clinical"


def test_user_create_gives_expertise_only_to_reviewers(admin_user):
    user = user_create(
        actor=admin_user, username="alex", email="alex@example.org", full_name="Alex Admin", affiliation="",
        role=Role.ADMIN, expertise=ExpertiseKind.ETHICS,
    )  # fmt: skip
    user.refresh_from_db()
    assert (user.role, user.expertise, user.is_staff) == (Role.ADMIN, "", True)


def test_user_update_logs_only_the_changes(admin_user, reviewer):
    user_update(
        actor=admin_user, user=reviewer, full_name="Rita R. Reviewer", email=reviewer.email,
        affiliation=reviewer.affiliation, role=Role.REVIEWER, expertise=ExpertiseKind.ETHICS, is_active=True,
    )  # fmt: skip
    reviewer.refresh_from_db()
    assert (reviewer.full_name, reviewer.expertise) == ("Rita R. Reviewer", "ethics")
    [entry] = [entry for entry in log_for(reviewer) if entry.action == Action.CHANGE]
    assert entry.actor == admin_user
    assert entry.old == {"full_name": "Rita Reviewer", "expertise": "technical"}
    assert entry.new == {"full_name": "Rita R. Reviewer", "expertise": "ethics"}

    user_update(
        actor=admin_user, user=reviewer, full_name="Rita R. Reviewer", email=reviewer.email,
        affiliation=reviewer.affiliation, role=Role.REVIEWER, expertise=ExpertiseKind.ETHICS, is_active=True,
    )  # fmt: skip
    assert len([entry for entry in log_for(reviewer) if entry.action == Action.CHANGE]) == 1


# --- the activity log --------------------------------------------------------------------


def test_activity_entries_are_append_only(project, researcher):
    project_update(actor=researcher, project=project, data=PROJECT_DATA)
    entry = ActivityEntry.objects.get(project=project, action=Action.CHANGE)
    entry.new = {"title": "forged"}
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    stored = ActivityEntry.objects.get(pk=entry.pk)
    assert stored.new["title"] == PROJECT_DATA["title"]


def test_every_log_row_is_stamped_in_utc(project, researcher, admin_user, items):
    started = timezone.now()
    project_update(actor=researcher, project=project, data=PROJECT_DATA)
    answer_required(project, researcher, items)
    project_submit(actor=researcher, project=project)
    user_register(username="nadia", email="n@example.org", full_name="Nadia", affiliation="", password="plum-sky-4471")

    entries = list(ActivityEntry.objects.all())
    assert len(entries) > 40
    for entry in entries:
        assert entry.at.tzinfo is not None
        assert entry.at.utcoffset() == timedelta(0)
        assert started - timedelta(minutes=5) <= entry.at <= timezone.now()
