"""Drive a project through the review workflow with the real services (for tests).

Each step is one service call, as a user's click would be; tests assert on what follows.
"""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from reviews.enums import AnswerStatus, ExpertiseKind, Meaning, Verdict
from reviews.models import EvidenceFile, GuidelineItem, Project, Round, RoundReview, User
from reviews.selectors.review import policy_status
from reviews.services.assignments import assignment_create, assignment_respond
from reviews.services.decisions import round_sign
from reviews.services.projects import answer_save, project_submit
from reviews.services.review import VerdictInput, audit_waive, round_review_save
from reviews.validators import validate_evidence_file
from tests.factories import AdminFactory, ReviewerFactory


def answer_everything(project: Project, *, text: str = "Documented in the protocol, section 3.") -> None:
    for item in GuidelineItem.objects.filter(version=project.guideline_version_id).order_by("stage__order", "order"):
        answer_save(
            actor=project.owner,
            project=project,
            item=item,
            status=AnswerStatus.MET,
            justification="",
            evidence_text=text,
        )


def attach_evidence(project: Project, name: str, content: bytes, *, item: GuidelineItem | None = None) -> EvidenceFile:
    """One evidence file attached by the owner, through the service, to `item` (the first required
    item by default), its answer marked met; the new file's row."""
    if item is None:
        item = GuidelineItem.objects.filter(version=project.guideline_version_id, required=True).first()
    answer_save(
        actor=project.owner,
        project=project,
        item=item,
        status=AnswerStatus.MET,
        justification="",
        evidence_text="",
        files=[validate_evidence_file(SimpleUploadedFile(name, content, content_type="text/plain"))],
    )
    return EvidenceFile.objects.filter(answer__project=project).latest("pk")


def submitted(project: Project) -> Round:
    answer_everything(project)
    return project_submit(actor=project.owner, project=project)


def reviewers_on(project: Project, *, admin: User | None = None, accept: bool = True) -> tuple[User, User]:
    """A technical and a clinical reviewer, assigned (and by default accepted, no conflict)."""
    admin = admin or AdminFactory(full_name="Ada Admin")
    technical = ReviewerFactory(full_name="Tess Technical", expertise=ExpertiseKind.TECHNICAL)
    clinical = ReviewerFactory(full_name="Carl Clinical", expertise=ExpertiseKind.CLINICAL)
    for reviewer in (technical, clinical):
        assignment_create(actor=admin, project=project, reviewer=reviewer)
        if accept:
            assignment_respond(actor=reviewer, project=project, accept=True)
    return technical, clinical


def review(round_: Round, reviewer: User, *, verdict: str = Verdict.ACCEPTABLE, submit: bool = True) -> RoundReview:
    items = GuidelineItem.objects.filter(version=round_.guideline_version_id)
    comment = "" if verdict == Verdict.ACCEPTABLE else "The evidence does not show this."
    return round_review_save(
        actor=reviewer,
        round_=round_,
        verdicts=[VerdictInput(item=item, verdict=verdict, comment=comment) for item in items],
        declared_phase=1,
        overclaim="within",
        overclaim_note="",
        submit=submit,
    )


def waive_all(round_: Round, reviewer: User) -> None:
    status = policy_status(round_)
    for audit in status.unwaived:
        audit_waive(
            actor=reviewer,
            round_=round_,
            audit=audit,
            reason="No images were part of this round; judged on the written evidence.",
            status=status.status_of(audit),
        )


def sign(round_: Round, reviewer: User, meaning: str = Meaning.APPROVE, statement: str = ""):  # type: ignore[no-untyped-def]
    if not statement and meaning != Meaning.APPROVE:
        statement = "See the item comments."
    return round_sign(actor=reviewer, round_=round_, meaning=meaning, statement=statement, digest=round_.digest)
