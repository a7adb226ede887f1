"""Reads of the API's image sets and resumable uploads: one query each, whatever the data size."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from api.models import ChunkedUpload
from audits.models import ImageFile, ImageSet
from reviews.models import Project, User

REJECTED_SHOWN = 200  # a set's detail lists this many refused files by name and reason


def project_upload(*, project: Project, owner: User, upload_id: uuid.UUID) -> ChunkedUpload | None:
    """The user's own upload in the project: anyone else's, or another project's, is not found."""
    return ChunkedUpload.objects.filter(pk=upload_id, project=project, owner=owner).first()


def project_image_sets(project: Project) -> QuerySet[ImageSet]:
    """Every set of the project, current and earlier ones, newest first (without the staged list
    or the side files' text, which only the ingest reads)."""
    return (
        ImageSet.objects.filter(project=project)
        .defer("staged", "metadata_csv", "manifest_text", "value_map_text")
        .order_by("-uploaded_at", "-pk")
    )


def project_image_set(project: Project, set_id: int) -> ImageSet | None:
    return project_image_sets(project).filter(pk=set_id).first()


def rejected_files(image_set: ImageSet) -> list[tuple[str, str]]:
    """(name, reason) of the set's refused files, by name, at most REJECTED_SHOWN of them."""
    rows = ImageFile.objects.filter(image_set=image_set).exclude(error="").order_by("name", "pk")
    return list(rows.values_list("name", "error")[:REJECTED_SHOWN])
