from django.db import models


class TokenScope(models.TextChoices):
    """What a personal API token may do. No scope signs: signing stays a browser act with the password."""

    READ = "read", "Read"
    WRITE = "write", "Read and write"


class UploadStatus(models.TextChoices):
    """A resumable upload of one file, sent in chunks (api.services.uploads)."""

    OPEN = "open", "Receiving chunks"
    COMPLETE = "complete", "All bytes received"
    USED = "used", "Part of an image set"
    CANCELLED = "cancelled", "Cancelled"


class TokenStatus(models.TextChoices):
    """Whether a token still opens the API (a revoked token is "revoked" even once past its expiry)."""

    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
