from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.functional import cached_property

from reviews.enums import (
    EDITABLE_STATUSES,
    JUSTIFICATION_REQUIRED,
    AnswerStatus,
    GeneratorFamily,
    ProjectStatus,
    SynthesisTask,
)
from reviews.models.catalogue import GuidelineItem, GuidelineVersion


def _private_storage() -> Any:
    return storages["private"]


class Project(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="projects")
    title = models.CharField(max_length=200)
    summary = models.TextField()
    synthesis_task = models.CharField(max_length=30, choices=SynthesisTask.choices)
    modalities = models.JSONField(default=list, help_text="Modality codes (reviews.enums.Modality).")
    generator_family = models.CharField(max_length=20, choices=GeneratorFamily.choices)
    intended_use = models.TextField()
    prohibited_uses = models.TextField()
    data_sources = models.TextField()
    guideline_version = models.ForeignKey(GuidelineVersion, on_delete=models.PROTECT, related_name="projects")
    status = models.CharField(max_length=20, choices=ProjectStatus.choices, default=ProjectStatus.DRAFT)
    public_listing = models.BooleanField(
        "list on the public register",
        default=False,
        help_text="Chosen by the researcher at submission: once approved, the project appears on the public register.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        permissions = [("submit_project", "Can submit the project for review")]
        indexes = [
            models.Index(fields=["owner", "-updated_at"]),
            # The project lists' pages (ids first, then the rows): each sort walks an index to its
            # LIMIT instead of sorting every project (issue 13, bench/scale.py).
            models.Index(F("updated_at").desc(), F("id").desc(), name="project_updated"),
            models.Index(Lower("title"), F("id"), name="project_title"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("project-detail", kwargs={"pk": self.pk})

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES


class Answer(models.Model):
    """A project's answer to one guideline item. An empty status means not answered yet."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(GuidelineItem, on_delete=models.PROTECT, related_name="answers")
    status = models.CharField(max_length=20, choices=AnswerStatus.choices, blank=True)
    justification = models.TextField(blank=True)
    evidence_text = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "item"], name="unique_answer_per_item"),
            models.CheckConstraint(
                condition=~models.Q(status__in=sorted(JUSTIFICATION_REQUIRED)) | ~models.Q(justification=""),
                name="answer_justified_when_not_met",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item.code}: {self.get_status_display() or 'not answered'}"

    @property
    def needs_justification(self) -> bool:
        return self.status in JUSTIFICATION_REQUIRED


def evidence_upload_to(instance: EvidenceFile, filename: str) -> str:
    """A random name: the original name is kept in the row, never on disk."""
    return f"evidence/{uuid.uuid4().hex}"


class EvidenceFile(models.Model):
    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="files")
    file = models.FileField(storage=_private_storage, upload_to=evidence_upload_to, max_length=200)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.original_name


class Round(models.Model):
    """A frozen submission. `canonical_json` is exactly the text whose SHA-256 is `digest`."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="rounds")
    number = models.PositiveIntegerField()
    guideline_version = models.ForeignKey(GuidelineVersion, on_delete=models.PROTECT, related_name="+")
    canonical_json = models.TextField()
    digest = models.CharField(max_length=64)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["project", "number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="unique_round_number")]
        # The public letter verification page finds a round by its digest (letters app).
        indexes = [
            models.Index(fields=["digest"], name="round_digest"),
            # The board's first-submission range (oversight.selectors.board_projects) and
            # months: round 1 only, with its project, read from the index alone.
            models.Index(fields=["submitted_at", "project"], condition=Q(number=1), name="round_one_submitted"),
        ]

    def __str__(self) -> str:
        return f"Round {self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("A round is immutable once frozen.")
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("round-detail", kwargs={"pk": self.project_id, "number": self.number})

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("A round is immutable once frozen.")

    @cached_property
    def snapshot(self) -> dict[str, Any]:
        """The frozen content, parsed once per instance (a page reads it several times; the
        row never changes, so the parse cannot go stale). Read it, never change it."""
        return dict(json.loads(self.canonical_json))
