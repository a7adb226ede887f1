"""Cap each uploaded file while the request streams, not after it has been stored."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.urls import Resolver404, resolve


def _limit_for(request: Any) -> int:
    """The per-file cap of the view this request goes to (settings.UPLOAD_LIMITS by view name,
    `namespace:name` for namespaced URLs)."""
    try:
        name = resolve(request.path_info).view_name
    except Resolver404:
        name = None
    return int(getattr(settings, "UPLOAD_LIMITS", {}).get(name, settings.EVIDENCE_MAX_BYTES))


class CappedUploadHandler(FileUploadHandler):
    """Skip (and remember) any file that grows past the limit; the rest of the form still arrives.

    The view reads `request.rejected_uploads` and shows each skipped file with the limit,
    so the user sees which file was too large rather than a generic error.
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        self.limit = _limit_for(self.request)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            rejected = getattr(self.request, "rejected_uploads", [])
            rejected.append((self.field_name, self.file_name, self.limit))
            self.request.rejected_uploads = rejected  # type: ignore[union-attr]
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
