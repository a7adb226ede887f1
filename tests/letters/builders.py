"""A decided round to write letters about, built with the real services (tests/workflow.py)."""

from __future__ import annotations

from dataclasses import dataclass

from reviews.enums import ExpertiseKind, Meaning, OverclaimFinding, ProjectStatus, Verdict
from reviews.models import GuidelineItem, Project, Round, User
from reviews.services.assignments import assignment_create, assignment_respond
from reviews.services.review import VerdictInput, round_review_save
from tests.factories import ProjectFactory, ReviewerFactory
from tests.workflow import sign, submitted, waive_all

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
    """Round 1 approved with a condition: a technical reviewer approves with conditions (and
    raised one concern), a clinical one approves; the uncomputable audits are waived."""
    project = ProjectFactory(owner=owner, title=title)
    round_ = submitted(project)
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
