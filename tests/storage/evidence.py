"""One evidence file attached to a project's first required item, through the service."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from reviews.enums import AnswerStatus
from reviews.models import EvidenceFile, GuidelineItem
from reviews.services.projects import answer_save
from reviews.validators import validate_evidence_file


def attach_evidence(project, name: str, content: bytes) -> EvidenceFile:
    item = GuidelineItem.objects.filter(version=project.guideline_version, required=True).first()
    upload = SimpleUploadedFile(name, content, content_type="text/plain")
    answer_save(
        actor=project.owner,
        project=project,
        item=item,
        status=AnswerStatus.MET,
        justification="",
        evidence_text="",
        files=[validate_evidence_file(upload)],
    )
    return EvidenceFile.objects.get(answer__project=project)
