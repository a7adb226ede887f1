from django.db import models

from reviews.enums import AuditKind


class SetRole(models.TextChoices):
    SYNTHETIC = "synthetic", "Synthetic set"
    REFERENCE = "reference", "Reference set (real training images)"
    HOLDOUT = "holdout", "Held-out real set"


class SetStatus(models.TextChoices):
    """An image set's ingestion: the upload stores the files, a worker reads them (audits.services.ingest)."""

    INGESTING = "ingesting", "Reading files"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


# The audits of the suite, in the order they are shown: the same choices that catalogue
# items are bound to, so an item's audit and a run's result share their names.
AuditName = AuditKind


class ChunkKind(models.TextChoices):
    """What one chunk task of an audit run does (audits.services.runs)."""

    READ = "read", "Read images"
    SEARCH = "search", "Search for copies"
