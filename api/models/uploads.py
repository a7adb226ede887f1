"""Resumable uploads: one file sent in chunks, then handed to the same image-set upload as the page's.

The row is the ledger of what arrived: `received` bytes are in `stored_name` (private storage,
under `chunked/`), so an interrupted client asks for the offset and sends the rest. Once all
`size` bytes are there (and their SHA-256 matches when the client declared one) the upload is
complete; an image set made from it marks it used. Open uploads expire.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from api.enums import UploadStatus


class ChunkedUpload(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("reviews.Project", on_delete=models.CASCADE, related_name="chunked_uploads")
    filename = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(help_text="The whole file's size, declared when the upload starts.")
    sha256 = models.CharField(max_length=64, blank=True, help_text="The whole file's SHA-256, if declared.")
    received = models.PositiveBigIntegerField(default=0)
    stored_name = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=UploadStatus.choices, default=UploadStatus.OPEN)
    image_set = models.ForeignKey("audits.ImageSet", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(received__lte=models.F("size")), name="upload_within_size"),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.received} of {self.size} bytes)"
