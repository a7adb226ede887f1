"""The guideline catalogue: sets, versions, stages and items.

A published version never changes: stages and items refuse to save or delete once
their version is published, and publishing is a compare-and-set on the status.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from reviews.enums import AuditKind, Automation, VersionStatus


class GuidelineSet(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class GuidelineVersion(models.Model):
    guideline_set = models.ForeignKey(GuidelineSet, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        related_name="children",
        null=True,
        blank=True,
        help_text="The published version this one was started from; its diff and impact are against it.",
    )

    class Meta:
        ordering = ["guideline_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["guideline_set", "number"], name="unique_version_number"),
            models.CheckConstraint(
                condition=models.Q(status=VersionStatus.DRAFT, published_at__isnull=True)
                | models.Q(status=VersionStatus.PUBLISHED, published_at__isnull=False),
                name="published_version_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guideline_set.name} v{self.number}"

    @property
    def is_published(self) -> bool:
        return self.status == VersionStatus.PUBLISHED


class PublishedVersionError(ValidationError):
    """A change to a stage or item of a published guideline version."""


class _FrozenWhenPublished(models.Model):
    """Stages and items belong to a version and freeze with it."""

    version = models.ForeignKey(GuidelineVersion, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self._refuse_if_published()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse_if_published()
        return super().delete(*args, **kwargs)

    def _refuse_if_published(self) -> None:
        status = GuidelineVersion.objects.filter(pk=self.version_id).values_list("status", flat=True).first()
        if status == VersionStatus.PUBLISHED:
            raise PublishedVersionError("This guideline version is published and can no longer change.")


class Stage(_FrozenWhenPublished):
    version = models.ForeignKey(GuidelineVersion, on_delete=models.CASCADE, related_name="stages")
    code = models.CharField(max_length=10)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField()

    class Meta:
        ordering = ["version", "order"]
        constraints = [models.UniqueConstraint(fields=["version", "code"], name="unique_stage_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class GuidelineItem(_FrozenWhenPublished):
    version = models.ForeignKey(GuidelineVersion, on_delete=models.CASCADE, related_name="items")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="items")
    code = models.CharField(max_length=10)
    order = models.PositiveIntegerField()
    requirement = models.TextField()
    rationale = models.TextField(blank=True)
    evidence = models.TextField("evidence to attach", blank=True)
    basis = models.CharField(max_length=20, blank=True)
    basis_note = models.CharField(max_length=300, blank=True)
    automation = models.CharField(max_length=10, choices=Automation.choices, default=Automation.MANUAL)
    automation_note = models.CharField(max_length=200, blank=True)
    required = models.BooleanField(default=True)
    audit = models.CharField(
        max_length=20, choices=AuditKind.choices, blank=True, help_text="The audit that can produce evidence for it."
    )

    class Meta:
        ordering = ["version", "stage__order", "order"]
        constraints = [models.UniqueConstraint(fields=["version", "code"], name="unique_item_code")]

    def __str__(self) -> str:
        return self.code
