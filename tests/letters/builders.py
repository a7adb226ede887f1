"""A decided round to write letters about, built with the real services (tests/workflow.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from reviews.enums import AnswerStatus, ExpertiseKind, Meaning, OverclaimFinding, ProjectStatus, Verdict
from reviews.models import GuidelineItem, Project, Round, User
from reviews.services.assignments import assignment_create, assignment_respond
from reviews.services.projects import answer_save, project_submit
from reviews.services.review import VerdictInput, round_review_save
from reviews.validators import validate_evidence_file
from tests.factories import ProjectFactory, ReviewerFactory
from tests.workflow import answer_everything, sign, waive_all

EVIDENCE_NAME = "secret-ethics-approval-scan.txt"
EVIDENCE_TEXT = "Ethics approval ref SECRET-EVIDENCE-7781, see the protocol."
CONDITION = "Label every exported image as synthetic in its DICOM header."
CONCERN_ITEM = "EV-5"
CONCERN = "The split of patients between training and test sets is not described."
WAIVER_REASON = "No images were part of this round; judged on the written evidence."


@dataclass
class Decided:
    project: Project
    round: Round
    technical: User
    clinical: User


def _review(round_: Round, reviewer: User, *, concern: bool) -> None:
    items = GuidelineItem.objects.filter(version=round_.guideline_version_id)
    round_review_save(
        actor=reviewer,
        round_=round_,
        verdicts=[
            VerdictInput(item=item, verdict=Verdict.CONCERN, comment=CONCERN)
            if concern and item.code == CONCERN_ITEM
            else VerdictInput(item=item, verdict=Verdict.ACCEPTABLE, comment="")
            for item in items
        ],
        declared_phase=1,
        overclaim=OverclaimFinding.WITHIN,
        overclaim_note="",
        submit=True,
    )


def approved_round(
    *, owner: User, admin: User, technical: User | None = None, title: str = "Synthetic knee CT for segmentation"
) -> Decided:
    """Round 1 (its first item with an evidence file and text) approved with a condition: a technical reviewer approves with conditions (and
    raised one concern), a clinical one approves; the uncomputable audits are waived."""
    project = ProjectFactory(owner=owner, title=title)
    answer_everything(project)
    first = GuidelineItem.objects.filter(version=project.guideline_version_id).order_by("stage__order", "order")[0]
    upload = SimpleUploadedFile(EVIDENCE_NAME, b"approval letter", content_type="text/plain")
    answer_save(
        actor=owner, project=project, item=first, status=AnswerStatus.MET, justification="",
        evidence_text=EVIDENCE_TEXT, files=[validate_evidence_file(upload)],
    )  # fmt: skip
    round_ = project_submit(actor=owner, project=project)
    technical = technical or ReviewerFactory(full_name="Tess Technical", expertise=ExpertiseKind.TECHNICAL)
    clinical = ReviewerFactory(full_name="Carl Clinical", expertise=ExpertiseKind.CLINICAL)
    for reviewer in (technical, clinical):
        assignment_create(actor=admin, project=project, reviewer=reviewer)
        assignment_respond(actor=reviewer, project=project, accept=True)
    _review(round_, technical, concern=True)
    _review(round_, clinical, concern=False)
    waive_all(round_, technical)
    sign(round_, technical, Meaning.APPROVE_WITH_CONDITIONS, CONDITION)
    sign(round_, clinical, Meaning.APPROVE)
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED, project.status
    return Decided(project, Round.objects.select_related("outcome").get(pk=round_.pk), technical, clinical)


@contextmanager
def tampering(table: str) -> Iterator[None]:
    """What someone with raw database access could do: on PostgreSQL a superuser first disables
    the table's append-only trigger (switched back on afterwards; a test transaction undoes it too)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _switch_trigger(cursor, table, "DISABLE")
        try:
            yield
        finally:
            if connection.vendor == "postgresql":
                _switch_trigger(cursor, table, "ENABLE")


def _switch_trigger(cursor: Any, table: str, how: str) -> None:
    # ALTER TABLE refuses while the transaction has pending (deferred foreign key) checks.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    cursor.execute(f"ALTER TABLE {table} {how} TRIGGER {table}_append_only")
