"""Image sets and resumable uploads as the API reads and writes them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.enums import UploadStatus
from api.models import ChunkedUpload
from audits.enums import SetRole, SetStatus
from audits.models import ImageSet

SET_UPLOADS_MAX = 1000  # uploads (files or archives) in one set


class UploadStartSerializer(serializers.Serializer[Any]):
    filename = serializers.CharField(max_length=255, help_text="The file's name, kept as the set's file label.")
    size = serializers.IntegerField(min_value=1, help_text="The whole file's size in bytes.")
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        default="",
        help_text="The whole file's SHA-256 in hex; checked once every byte has arrived.",
    )


class UploadSerializer(serializers.ModelSerializer[ChunkedUpload]):
    offset = serializers.IntegerField(
        source="received", read_only=True, help_text="Bytes received: the next chunk starts here."
    )
    status = serializers.ChoiceField(choices=UploadStatus.choices, read_only=True)
    chunk_max_bytes = serializers.SerializerMethodField(help_text="The largest chunk one request may carry.")

    class Meta:
        model = ChunkedUpload
        fields = ["id", "filename", "size", "sha256", "offset", "status", "chunk_max_bytes", "expires_at", "image_set"]
        read_only_fields = fields

    def get_chunk_max_bytes(self, upload: ChunkedUpload) -> int:
        return int(settings.API_UPLOAD_CHUNK_MAX_BYTES)


class ImageSetSerializer(serializers.ModelSerializer[ImageSet]):
    role = serializers.ChoiceField(choices=SetRole.choices, read_only=True)
    status = serializers.ChoiceField(choices=SetStatus.choices, read_only=True)
    n_rejected = serializers.IntegerField(read_only=True, help_text="Files refused, each with its reason.")

    class Meta:
        model = ImageSet
        fields = [
            "id",
            "role",
            "status",
            "is_current",
            "n_files",
            "n_read",
            "n_accepted",
            "n_rejected",
            "n_images",
            "message",
            "digest",
            "uploaded_at",
            "ingested_at",
        ]
        read_only_fields = fields


class RejectedFileSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    reason = serializers.CharField()


class ImageSetDetailSerializer(ImageSetSerializer):
    notes = serializers.ListField(child=serializers.CharField(), read_only=True)
    rejected_files = serializers.SerializerMethodField(
        help_text="The refused files by name with the reason (the first 200 by name; n_rejected counts all)."
    )

    class Meta(ImageSetSerializer.Meta):
        fields = [
            *ImageSetSerializer.Meta.fields,
            "notes",
            "metadata_name",
            "manifest_name",
            "value_map_name",
            "rejected_files",
        ]
        read_only_fields = fields

    @extend_schema_field(RejectedFileSerializer(many=True))
    def get_rejected_files(self, image_set: ImageSet) -> list[dict[str, str]]:
        rejected: list[tuple[str, str]] = self.context.get("rejected", [])
        return RejectedFileSerializer([{"name": n, "reason": r} for n, r in rejected], many=True).data  # type: ignore[return-value]


class ImageSetFromUploadsSerializer(serializers.Serializer[Any]):
    """A set made of complete resumable uploads (large sets)."""

    role = serializers.ChoiceField(choices=SetRole.choices)
    uploads = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=SET_UPLOADS_MAX,
        help_text="Ids of complete uploads: images or archives of them.",
    )
    metadata_upload = serializers.UUIDField(required=False, help_text="A complete upload of the metadata CSV.")
    manifest_upload = serializers.UUIDField(required=False, help_text="A complete upload of the generation manifest.")
    value_map_upload = serializers.UUIDField(
        required=False, help_text="A complete upload of the subgroup value mapping CSV."
    )


class ImageSetFilesSerializer(serializers.Serializer[Any]):
    """A set sent as one multipart request (small sets): the page's own form fields."""

    role = serializers.ChoiceField(choices=SetRole.choices)
    files = serializers.ListField(child=serializers.FileField(), min_length=1, help_text="Images or archives.")
    metadata = serializers.FileField(required=False)
    manifest = serializers.FileField(required=False)
    value_map = serializers.FileField(required=False)
