"""Audit runs of a project: the history, a request for a new run, one run, one audit's result.

The project is authorised first (api.access.project_for); runs are then looked up within it
(audits.selectors), so another project's run is not found. Requesting a run is the page's
own service and permission (`audits.run_audits`), throttled per user on the page's own
counter (reviews.throttling, scope "audit-run-user"): the page and the API share one allowance
of THROTTLE_AUDIT_RUN_PER_HOUR, not one each.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import APIException
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from api.access import project_for
from api.parsers import JSONParser
from api.permissions import SignedIn, TokenScopeAllows
from api.serializers.runs import AuditRunDetailSerializer, AuditRunRequestSerializer, AuditRunSerializer
from audits.enums import AuditName, RunStatus, SetRole, SetStatus
from audits.models import AuditRun, ImageSet
from audits.selectors import AUDITS, project_run, run_audit_result, run_history
from audits.services.runs import audit_run_request
from reviews.models import Project
from reviews.throttling import throttle_hit


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT


class AuditRunThrottle(BaseThrottle):
    """Counts a run request on the page's counter ("audit-run-user" by user id, as
    audits.views.pages does), so page and API requests together meet one limit; DRF answers
    429 with Retry-After when it is reached."""

    scope = "audit-run-user"

    def allow_request(self, request: Request, view: Any) -> bool:
        self._wait: int | None = None
        if request.method in SAFE_METHODS or not request.user.is_authenticated:
            return True
        self._wait = throttle_hit(self.scope, str(request.user.pk))
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


@extend_schema_view(get=extend_schema(summary="The project's audit runs, newest first"))
class AuditRunList(generics.ListAPIView[AuditRun]):
    """The project's runs, newest first, each audit's status; POST asks for a run."""

    permission_classes = [SignedIn, TokenScopeAllows]
    parser_classes = [JSONParser]
    serializer_class = AuditRunSerializer

    def get_throttles(self) -> list[BaseThrottle]:
        return [*super().get_throttles(), AuditRunThrottle()]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        perm = None if request.method in SAFE_METHODS else "audits.run_audits"
        self.project: Project = project_for(request, kwargs["id"], perm=perm)

    queryset = AuditRun.objects.none()  # the schema's model; get_queryset reads the project's own

    def get_queryset(self) -> Any:
        return run_history(self.project)

    @extend_schema(
        summary="Request an audit run",
        description="Queues the suite over the project's current sets and thresholds (201). When a run on the "
        "same inputs is already queued or running, that run is answered (200); when one finished on them, its "
        "results are reused in a new run. Needs a current synthetic set (409 otherwise).",
        request=AuditRunRequestSerializer,
        responses={201: AuditRunDetailSerializer, 200: AuditRunDetailSerializer, 409: OpenApiResponse()},
    )
    def post(self, request: Request, id: int) -> Response:
        given = AuditRunRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        synthetic = ImageSet.objects.filter(project=self.project, role=SetRole.SYNTHETIC)
        if not synthetic.filter(is_current=True).exists():
            if synthetic.filter(status=SetStatus.INGESTING).exists():
                raise Conflict("The synthetic set is still being read; the audits start by themselves once it is done.")
            raise Conflict("Upload a synthetic image set first: every audit needs one.")
        pending_before = set(
            AuditRun.objects.filter(project=self.project, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list(
                "pk", flat=True
            )
        )
        by = request.user.display_name  # type: ignore[union-attr]
        reason = given.validated_data["reason"] or f"requested through the API by {by}"
        run = audit_run_request(project=self.project, actor=request.user, reason=reason)  # type: ignore[arg-type]
        found = project_run(self.project, run.pk)
        answer = status.HTTP_200_OK if run.pk in pending_before else status.HTTP_201_CREATED
        return Response(AuditRunDetailSerializer(found).data, status=answer)


class AuditRunDetail(APIView):
    permission_classes = [SignedIn, TokenScopeAllows]

    @extend_schema(summary="An audit run: state, progress and each audit's verdict", responses=AuditRunDetailSerializer)
    def get(self, request: Request, id: int, run_id: int) -> Response:
        run = project_run(project_for(request, id), run_id)
        if run is None:
            raise Http404("No such audit run")
        return Response(AuditRunDetailSerializer(run).data)


class AuditResult(APIView):
    permission_classes = [SignedIn, TokenScopeAllows]

    @extend_schema(
        summary="One audit's result: the engine's JSON",
        parameters=[OpenApiParameter("audit", str, OpenApiParameter.PATH, enum=list(AuditName.values))],
        responses={200: OpenApiTypes.OBJECT, 409: OpenApiResponse(description="The run has not finished yet.")},
    )
    def get(self, request: Request, id: int, run_id: int, audit: str) -> Response:
        project = project_for(request, id)
        found = run_audit_result(project, run_id, audit) if audit in AUDITS else None
        if found is None:
            raise Http404("No such audit run or audit.")
        run, result = found
        if result is None:
            if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
                raise Conflict("This run has not finished yet.")
            raise Http404("This run has no result for this audit")
        return Response(result)
