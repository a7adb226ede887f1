from django.db import models


class SetRole(models.TextChoices):
    SYNTHETIC = "synthetic", "Synthetic set"
    REFERENCE = "reference", "Reference set (real training images)"
    HOLDOUT = "holdout", "Held-out real set"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class AuditName(models.TextChoices):
    """The audits of the suite, in the order they are shown. Values match reviews.enums.AuditKind."""

    DISCLOSURE = "disclosure", "Disclosure"
    PRIVACY = "privacy", "Privacy (PHI)"
    MEMORIZATION = "memorization", "Memorization"
    FIDELITY = "fidelity", "Fidelity"
    REPRESENTATION = "representation", "Representation"
    MANIFEST = "manifest", "Manifest coverage"
