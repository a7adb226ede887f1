"""Image sets and the audit-run ledger.

The ledger is the database, not the broker: an AuditRun row is created in the same
transaction as the request that asks for it, its Celery message is sent on commit, a
worker claims it with a compare-and-set, and the result is written exactly once.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.files.storage import storages
from django.db import models, transaction
from django.db.models import F, Max
from django.urls import reverse

from audits.enums import ChunkKind, RunStatus, SetRole, SetStatus


def _private_storage() -> Any:
    return storages["private"]


def image_upload_to(instance: ImageFile, filename: str) -> str:
    return f"images/{instance.image_set_id}/{uuid.uuid4().hex}"


class ImageSet(models.Model):
    """One uploaded set of images of a project; a new upload of the same role supersedes it.

    The upload stores the files as they came (`staged`) and leaves the set `ingesting`; a
    worker extracts and reads them (audits.services.ingest) and only then makes the set
    current, or ends it failed or refused with `message`. While ingesting, `worker` empty
    means no worker holds it yet and `lease_until` is when the reconciler sends it again;
    a claimed ingest keeps `lease_until` ahead with a heartbeat. Once ended, `worker` names
    the worker process that read the files.
    """

    project = models.ForeignKey("reviews.Project", on_delete=models.CASCADE, related_name="image_sets")
    role = models.CharField(max_length=20, choices=SetRole.choices)
    is_current = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=SetStatus.choices, default=SetStatus.READY, db_index=True)
    message = models.TextField(blank=True, help_text="Why the ingest failed or was refused.")
    notes = models.JSONField(default=list, blank=True, help_text="What the uploader should know (renamed files…).")
    staged = models.JSONField(
        default=list, blank=True, help_text="The uploaded files in private storage: [name, storage name] pairs."
    )
    n_read = models.PositiveIntegerField(default=0, help_text="Files read so far (all of them once ready).")
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    ingested_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 over the accepted files' digests.")
    n_files = models.PositiveIntegerField(default=0)
    n_accepted = models.PositiveIntegerField(default=0)
    n_images = models.PositiveIntegerField(default=0, help_text="2-D images (slices, frames) in accepted files.")
    metadata_name = models.CharField(max_length=255, blank=True)
    metadata_csv = models.TextField(blank=True)
    manifest_name = models.CharField(max_length=255, blank=True)
    manifest_text = models.TextField(blank=True)
    value_map_name = models.CharField(max_length=255, blank=True)
    value_map_text = models.TextField(
        blank=True, help_text="The researcher's subgroup value mapping CSV (attribute, value, group)."
    )

    class Meta:
        ordering = ["project", "role", "-uploaded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "role"], condition=models.Q(is_current=True), name="one_current_set_per_role"
            ),
            models.CheckConstraint(
                condition=models.Q(is_current=False) | models.Q(status=SetStatus.READY), name="current_set_is_ready"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[SetStatus.INGESTING, SetStatus.READY]) | ~models.Q(message=""),
                name="failed_set_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} ({self.n_accepted} files)"

    @property
    def n_rejected(self) -> int:
        """Files refused so far: of those read while ingesting, of all files once it ended."""
        return (self.n_read if self.is_ingesting else self.n_files) - self.n_accepted

    @property
    def is_ingesting(self) -> bool:
        return self.status == SetStatus.INGESTING


class ImageFile(models.Model):
    """One file of a set: its manifest entry (digest, format, dimensions) or why it was rejected."""

    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=500, help_text="Path inside the uploaded archive or folder.")
    stored = models.FileField(storage=_private_storage, upload_to=image_upload_to, max_length=200, blank=True)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=10, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    slices = models.PositiveIntegerField(default=0)
    header = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["image_set", "name"]
        constraints = [models.UniqueConstraint(fields=["image_set", "name"], name="unique_file_name_in_set")]

    def __str__(self) -> str:
        return self.name

    @property
    def accepted(self) -> bool:
        return not self.error


class AuditRun(models.Model):
    """One run of the audit suite over a project's current image sets.

    `number` counts the project's runs from 1 (what every page calls "run #N"); the primary
    key is global and is only used in URLs.
    """

    project = models.ForeignKey("reviews.Project", on_delete=models.CASCADE, related_name="audit_runs")
    number = models.PositiveIntegerField(help_text="The project's own run number, from 1.")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    reason = models.CharField(max_length=200, help_text="What asked for the run: an upload, a submission, a user.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    sets = models.ManyToManyField(ImageSet, related_name="runs", blank=True)
    params = models.JSONField(default=dict, blank=True)
    input_digest = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of set digests, params, code.")
    reused_from = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    chunks_total = models.PositiveIntegerField(default=0)
    search_sent = models.BooleanField(default=False, help_text="The copy search's plan was sent (once per attempt).")
    merge_sent = models.BooleanField(default=False)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=200, blank=True)
    results = models.JSONField(null=True, blank=True, help_text="Audit name -> engine AuditResult as a dict.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_run_number_per_project"),
            models.CheckConstraint(
                condition=~models.Q(status=RunStatus.SUCCEEDED) | models.Q(results__isnull=False),
                name="succeeded_run_has_results",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=RunStatus.FAILED) | ~models.Q(error=""),
                name="failed_run_has_reason",
            ),
        ]
        # "The project's latest succeeded run" (the board's failing audits, the project list's
        # audit filter, the latest results) is an index lookup per project, whatever the
        # planner knows of the table: before PostgreSQL had analyzed a freshly loaded table of
        # 20,000 runs the board's audit figure took 9 to 14 s without it, 0.09 s with it.
        indexes = [
            models.Index("project", "status", F("created_at").desc(), F("id").desc(), name="run_latest_per_project")
        ]

    def __str__(self) -> str:
        return f"Audit run #{self.number} ({self.get_status_display().lower()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A new run takes the project's next number under the project's row lock, so two runs
        created at once (an upload's ingest and a submission, say) never draw the same one."""
        if self.number is not None:
            super().save(*args, **kwargs)
            return
        from reviews.models import Project

        with transaction.atomic():
            Project.objects.select_for_update(no_key=True).filter(pk=self.project_id).values_list("pk").first()
            highest = AuditRun.objects.filter(project_id=self.project_id).aggregate(highest=Max("number"))["highest"]
            self.number = (highest or 0) + 1
            super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("audit-run", kwargs={"pk": self.project_id, "run_pk": self.pk})

    @property
    def is_final(self) -> bool:
        return self.status in {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


class AuditChunk(models.Model):
    """One task's share of a run, merged at the end.

    A "read" chunk reads a slice of a set's files into pixels, digests and features. A "search"
    chunk, planned once every read chunk is done, searches one block of query images (synthetic,
    or the memorization audit's baseline) for copies among all reference images and stores
    their per-image scores (audits.engine.memorization.phases).
    """

    run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=ChunkKind.choices, default=ChunkKind.READ)
    role = models.CharField(max_length=20, choices=SetRole.choices)
    file_ids = models.JSONField(help_text="ImageFile ids this chunk reads, in order.")
    query = models.JSONField(
        default=dict,
        blank=True,
        help_text='A search chunk\'s queries: {"which": "synthetic" | "baseline", "parts": [[read chunk index,'
        " [image positions in that chunk's arrays]], ...]}, in row order.",
    )
    done = models.BooleanField(default=False)
    artifact = models.CharField(max_length=200, blank=True, help_text="Private-storage name of the chunk's arrays.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="unique_chunk_index")]

    def __str__(self) -> str:
        return f"Chunk {self.index} of run {self.run_id}"


class AuditConfig(models.Model):
    """A project's own audit thresholds: audit name -> parameter -> value (engine defaults otherwise)."""

    project = models.OneToOneField("reviews.Project", on_delete=models.CASCADE, related_name="audit_config")
    params = models.JSONField(default=dict, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Audit thresholds of project {self.project_id}"
