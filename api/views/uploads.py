"""Image sets and resumable uploads of a project (docs/pipeline/README.md describes the protocol).

Every view authorises on the project first (api.access.project_for, the pages' rule); sets
and uploads are then looked up inside that project, an upload only among the user's own.
A chunk's body is read only after those checks and only when it continues the upload
(api.services.uploads.upload_append); reviews.middleware.RequestCapMiddleware has already
refused it, unread, when it is too large or its sender may not change the project.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.http import Http404
from django.template.defaultfilters import filesizeformat
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.access import project_for
from api.models import ChunkedUpload
from api.parsers import JSONParser
from api.permissions import SignedIn, TokenScopeAllows
from api.selectors.uploads import project_image_set, project_image_sets, project_upload, rejected_files
from api.serializers.uploads import (
    ImageSetDetailSerializer,
    ImageSetFilesSerializer,
    ImageSetFromUploadsSerializer,
    ImageSetSerializer,
    UploadSerializer,
    UploadStartSerializer,
)
from api.services.uploads import (
    ChunkRange,
    ChunkRefused,
    UploadQuotaExceeded,
    image_set_from_uploads,
    upload_append,
    upload_cancel,
    upload_start,
)
from audits.models import ImageSet
from audits.services.uploads import image_set_upload
from reviews.models import Project

CHANGE = "reviews.change_project"
CONTENT_RANGE = re.compile(r"^bytes (\d{1,15})-(\d{1,15})/(\d{1,15})$")


class QuotaConflict(APIException):
    """The user's open and unused uploads hold their quota: finishing or cancelling one frees it."""

    status_code = status.HTTP_409_CONFLICT


class _WritesThrottled(APIView):
    """Writes count toward the "api-upload" allowance (api.throttling.ApiScopedThrottle); reads do not."""

    @property
    def throttle_scope(self) -> str | None:
        return None if self.request.method in SAFE_METHODS else "api-upload"


class ChunkParser(BaseParser):
    """Declares the raw chunk body; the view reads it itself, after its checks."""

    media_type = "application/octet-stream"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return stream


@extend_schema_view(get=extend_schema(summary="The project's image sets, current and earlier, newest first"))
class ImageSetList(_WritesThrottled, generics.ListCreateAPIView[ImageSet]):
    """The project's image sets, current and earlier, newest first; POST stages a new one."""

    permission_classes = [SignedIn, TokenScopeAllows]
    parser_classes = [JSONParser, MultiPartParser]
    serializer_class = ImageSetSerializer

    queryset = ImageSet.objects.none()  # the schema's model; get_queryset reads the project's own

    def get_queryset(self) -> Any:
        return project_image_sets(self.project)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.project: Project = project_for(request, kwargs["id"], perm=CHANGE if request.method == "POST" else None)

    @extend_schema(
        summary="Upload an image set",
        description="Either multipart (`files` and the optional side files, like the page's form) for small "
        "sets, or JSON naming complete resumable uploads for large ones. The set is read by a worker: poll "
        "its detail until `status` is `ready` (it becomes current) or `failed`/`refused`.",
        request={"application/json": ImageSetFromUploadsSerializer, "multipart/form-data": ImageSetFilesSerializer},
        responses={201: ImageSetDetailSerializer},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        notes: list[str] = []
        try:
            data = request.data
        except (TooManyFilesSent, RequestDataTooBig):
            raise ParseError(
                f"At most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files per request and "
                f"{filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)} of form fields; send larger sets as "
                "resumable uploads."
            ) from None
        if str(request.content_type).startswith("multipart/"):
            image_set = self._from_files(request, notes)
        else:
            given = ImageSetFromUploadsSerializer(data=data)
            given.is_valid(raise_exception=True)
            sides = {s: given.validated_data.get(f"{s}_upload") for s in ("metadata", "manifest", "value_map")}
            image_set = image_set_from_uploads(
                actor=request.user,  # type: ignore[arg-type]
                project=self.project,
                role=given.validated_data["role"],
                upload_ids=given.validated_data["uploads"],
                side_ids={side: pk for side, pk in sides.items() if pk is not None},
                notes=notes,
            )
        body = ImageSetDetailSerializer(image_set, context={"rejected": []}).data
        return Response({**body, "notes": [*body["notes"], *notes]}, status=status.HTTP_201_CREATED)

    def _from_files(self, request: Request, notes: list[str]) -> ImageSet:
        skipped = getattr(request._request, "rejected_uploads", None)
        if skipped:
            field, name, limit = skipped[0]
            raise ValidationError({field: [f"“{name}” is larger than the {filesizeformat(limit)} a file may be."]})
        given = ImageSetFilesSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        return image_set_upload(
            actor=request.user,  # type: ignore[arg-type]
            project=self.project,
            role=given.validated_data["role"],
            files=given.validated_data["files"],
            metadata=given.validated_data.get("metadata"),
            manifest=given.validated_data.get("manifest"),
            value_map=given.validated_data.get("value_map"),
            notes=notes,
        )


class ImageSetDetail(APIView):
    """One set: its reading progress, counts, notes, and the refused files with their reasons."""

    permission_classes = [SignedIn, TokenScopeAllows]

    @extend_schema(summary="An image set", responses={200: ImageSetDetailSerializer})
    def get(self, request: Request, id: int, set_id: int) -> Response:
        image_set = project_image_set(project_for(request, id), set_id)
        if image_set is None:
            raise Http404("No such image set")
        return Response(ImageSetDetailSerializer(image_set, context={"rejected": rejected_files(image_set)}).data)


class UploadStart(_WritesThrottled):
    permission_classes = [SignedIn, TokenScopeAllows]
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Open a resumable upload of one file",
        request=UploadStartSerializer,
        responses={
            201: UploadSerializer,
            409: OpenApiResponse(
                description="Your open and unused uploads already hold your quota; make a set from them or "
                "cancel some first."
            ),
        },
    )
    def post(self, request: Request, id: int) -> Response:
        project = project_for(request, id, perm=CHANGE)
        given = UploadStartSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            upload = upload_start(actor=request.user, project=project, **given.validated_data)  # type: ignore[arg-type]
        except UploadQuotaExceeded as exc:
            raise QuotaConflict(str(exc)) from None
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class UploadDetail(_WritesThrottled):
    """GET: where to resume. PUT: the next chunk. DELETE: cancel and delete the bytes."""

    permission_classes = [SignedIn, TokenScopeAllows]
    parser_classes = [ChunkParser]

    def _upload(self, request: Request, id: int, upload_id: uuid.UUID, *, perm: str | None) -> ChunkedUpload:
        project = project_for(request, id, perm=perm)
        upload = project_upload(project=project, owner=request.user, upload_id=upload_id)  # type: ignore[arg-type]
        if upload is None:
            raise Http404("No such upload")
        return upload

    @extend_schema(summary="A resumable upload: the offset to resume from", responses={200: UploadSerializer})
    def get(self, request: Request, id: int, upload_id: uuid.UUID) -> Response:
        return Response(UploadSerializer(self._upload(request, id, upload_id, perm=None)).data)

    @extend_schema(
        summary="Send the next chunk",
        description="The raw bytes, with `Content-Range: bytes <start>-<end>/<size>` (end inclusive). A chunk "
        "already received answers 200 and changes nothing; one that would leave a gap or overlap answers 409 "
        "with the `offset` to resume from; a declared SHA-256 that does not match once every byte is in "
        "answers 422 and empties the upload.",
        parameters=[
            OpenApiParameter("Content-Range", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
        ],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={
            200: UploadSerializer,
            409: OpenApiResponse(UploadSerializer, description="Not where the upload stands: resume at `offset`."),
            413: OpenApiResponse(description="The chunk is larger than `chunk_max_bytes`; nothing was read."),
            422: OpenApiResponse(UploadSerializer, description="The file's SHA-256 is not the declared one."),
        },
    )
    def put(self, request: Request, id: int, upload_id: uuid.UUID) -> Response:
        upload = self._upload(request, id, upload_id, perm=CHANGE)
        chunk = _chunk_range(request)
        if chunk.length > settings.API_UPLOAD_CHUNK_MAX_BYTES:
            return Response(
                {"detail": f"A chunk may hold at most {settings.API_UPLOAD_CHUNK_MAX_BYTES} bytes; nothing was read."},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        try:
            upload = upload_append(upload_id=upload.pk, chunk=chunk, read=request._request.read)
        except ChunkRefused as refused:
            body = UploadSerializer(refused.upload).data
            return Response({**body, "detail": refused.message}, status=refused.status)
        return Response(UploadSerializer(upload).data)

    @extend_schema(summary="Cancel a resumable upload and delete its bytes", responses={204: None})
    def delete(self, request: Request, id: int, upload_id: uuid.UUID) -> Response:
        upload = self._upload(request, id, upload_id, perm=CHANGE)
        if not upload_cancel(upload=upload):
            return Response(
                {"detail": f"This upload is {upload.get_status_display().lower()}; it cannot be cancelled."},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _chunk_range(request: Request) -> ChunkRange:
    """The chunk's place from Content-Range, which must agree with Content-Length and the content type."""
    if request.content_type.split(";")[0].strip() != ChunkParser.media_type:
        raise ValidationError({"Content-Type": [f"A chunk is sent as {ChunkParser.media_type}."]})
    found = CONTENT_RANGE.match(request.headers.get("Content-Range", ""))
    if found is None:
        raise ValidationError({"Content-Range": ["Send “Content-Range: bytes <start>-<end>/<size>” (end inclusive)."]})
    chunk = ChunkRange(*(int(part) for part in found.groups()))
    if chunk.end < chunk.start or chunk.end >= chunk.size:
        raise ValidationError({"Content-Range": ["The range must satisfy start <= end < size."]})
    length = str(request.META.get("CONTENT_LENGTH") or "")
    if length != str(chunk.length):
        raise ValidationError(
            {"Content-Length": [f"Content-Range announces {chunk.length} bytes; send exactly those."]}
        )
    return chunk
