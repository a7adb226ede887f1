"""Cap each uploaded file while the request streams, not after it has been stored."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.urls import Resolver404, resolve


def _view_name(request: Any) -> str | None:
    """The view this request goes to (`namespace:name` for namespaced URLs)."""
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return None


def _limit_for(request: Any) -> int:
    """The per-file cap of the view this request goes to (settings.UPLOAD_LIMITS by view name)."""
    return int(getattr(settings, "UPLOAD_LIMITS", {}).get(_view_name(request), settings.EVIDENCE_MAX_BYTES))


def _count_for(request: Any) -> int:
    """How many files a request to this view may carry (settings.UPLOAD_FILE_COUNTS by view name)."""
    counts = getattr(settings, "UPLOAD_FILE_COUNTS", {})
    return int(counts.get(_view_name(request), getattr(settings, "UPLOAD_FILE_COUNT_DEFAULT", 10)))


class CappedUploadHandler(FileUploadHandler):
    """Skip (and remember) any file that grows past the limit; the rest of the form still arrives.

    The view reads `request.rejected_uploads` and shows each skipped file with the limit,
    so the user sees which file was too large rather than a generic error.
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        # One handler per request: its view's limits are read at its first file. Past the view's
        # count the body is refused as Django refuses one past DATA_UPLOAD_MAX_NUMBER_FILES (each
        # upload view says why), before another file is spooled.
        self.files = getattr(self, "files", 0) + 1
        if self.files == 1:
            self.limit, self.count_limit = _limit_for(self.request), _count_for(self.request)
        if self.files > self.count_limit:
            raise TooManyFilesSent(f"The number of files exceeded {self.count_limit} for this form.")

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
