"""A project's rounds, their reviews, decisions and signatures: read-only, with the round page's
own rules. The project is looked up by api.access.project_for (404 for what the caller may not
see), the round within it by project_round (404 for a round of another project); what the caller
reads of reviews and signatures is decided by visible_reviews and decisions_visible, as on the
page. Signing is not possible through the API: it stays a browser act with the password."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.access import project_for
from api.permissions import SignedIn, TokenScopeAllows
from api.selectors.records import latest_round_number, project_rounds, round_record, round_signatures, round_status
from api.serializers.records import RoundDetailSerializer, RoundSerializer, RoundSignaturesSerializer
from reviews.models import Round
from reviews.views.reviewing import project_round

TAGS = ["rounds"]


def _frozen_round(request: Request, project_id: int, number: int) -> Round:
    return project_round(project_for(request, project_id), number)


class ProjectRoundList(GenericAPIView[Round]):
    """The project's frozen rounds, first first."""

    permission_classes = [SignedIn, TokenScopeAllows]
    serializer_class = RoundSerializer
    filter_backends: list[Any] = []

    @extend_schema(
        tags=TAGS,
        summary="A project's rounds",
        responses=RoundSerializer(many=True),
        operation_id="project_rounds_list",
    )
    def get(self, request: Request, id: int) -> Response:
        project = project_for(request, id)
        page = self.paginate_queryset(project_rounds(project))
        rounds = list(page) if page is not None else []
        latest = latest_round_number(project)
        statuses = {round_.pk: round_status(round_, project, latest) for round_ in rounds}
        serializer = RoundSerializer(rounds, many=True, context={"statuses": statuses})
        return self.get_paginated_response(serializer.data)


class ProjectRoundDetail(APIView):
    permission_classes = [SignedIn, TokenScopeAllows]

    @extend_schema(
        tags=TAGS,
        summary="One round: its frozen snapshot, digest, outcome and the reviews you may read",
        responses=RoundDetailSerializer,
        operation_id="project_round_retrieve",
    )
    def get(self, request: Request, id: int, number: int) -> Response:
        record = round_record(_frozen_round(request, id, number), request.user)
        context = {"statuses": {record.round.pk: record.status}}
        return Response(RoundDetailSerializer(record, context=context).data)


class ProjectRoundSignatures(APIView):
    permission_classes = [SignedIn, TokenScopeAllows]

    @extend_schema(
        tags=TAGS,
        summary="A round's signatures, in signing order (read only: signing needs the browser and the password)",
        responses=RoundSignaturesSerializer,
        operation_id="project_round_signatures",
    )
    def get(self, request: Request, id: int, number: int) -> Response:
        record = round_signatures(_frozen_round(request, id, number), request.user)
        return Response(RoundSignaturesSerializer(record).data)
