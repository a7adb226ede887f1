"""The public register and letter verification: anyone may read them, without a token (a token
still authenticates, and counts toward its user's throttle; anonymous callers count toward the
api-anonymous throttle per address).

Every answer is built by the register page's selectors from the approved round's frozen
snapshot, never from the live project; a project that is not on the register answers the same
404 whatever the reason. Verification answers like /verify/<digest>/: signers by role and
number, never by name.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.selectors.records import project_standing
from api.serializers.records import RegisterEntryDetailSerializer, RegisterEntrySerializer, VerificationSerializer
from letters.selectors import decided_round_by_digest, is_digest, verify_round
from public.forms.register import RegisterSearchForm
from public.selectors.objections import register_objections
from public.selectors.register import (
    register_entry,
    register_entry_summaries,
    register_round,
    register_rounds,
    register_search,
    register_settings,
)
from public.views.register import objections_json
from reviews.enums import Modality, SynthesisTask
from reviews.models import Round

REGISTER_TAGS = ["register"]

_FILTERS = [
    OpenApiParameter("q", str, description="Words that must each appear in the title, summary or uses."),
    OpenApiParameter("task", str, enum=SynthesisTask.values, description="A synthesis task."),
    OpenApiParameter("modality", str, enum=Modality.values, description="A modality."),
]


class RegisterList(GenericAPIView[Round]):
    """The projects on the public register, newest approval first."""

    permission_classes = [AllowAny]
    serializer_class = RegisterEntrySerializer
    filter_backends: list[Any] = []

    @extend_schema(
        tags=REGISTER_TAGS,
        summary="The public register",
        parameters=_FILTERS,
        responses=RegisterEntrySerializer(many=True),
        operation_id="register_list",
    )
    def get(self, request: Request) -> Response:
        form = RegisterSearchForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({name: list(errors) for name, errors in form.errors.items()})
        rounds = register_search(register_rounds(listing=register_settings().listing), **form.cleaned_data)
        page = self.paginate_queryset(rounds)
        entries = register_entry_summaries(page if page is not None else [])
        return self.get_paginated_response(RegisterEntrySerializer(entries, many=True).data)


class RegisterDetail(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=REGISTER_TAGS,
        summary="One project on the public register",
        responses=RegisterEntryDetailSerializer,
    )
    def get(self, request: Request, id: int) -> Response:
        settings_ = register_settings()
        round_ = register_round(pk=id, listing=settings_.listing)
        if round_ is None:
            raise NotFound("No such project on the register.")
        entry = register_entry(round_, show_signer_names=settings_.show_signer_names)
        context = {"objections": objections_json(register_objections(round_.project_id))}
        return Response(RegisterEntryDetailSerializer(entry, context=context).data)


class LetterVerify(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["verify"],
        summary="Verify a decision letter by its round digest",
        description="Whether the round this digest names is real and intact (its content still hashes to the "
        "digest, every signature still matches its record in the signature chain, the decision matches the "
        "hash-chained activity log), what was decided, and whether an approval of the project stands today. "
        "Signers are named by role and number, never by name. Unknown digest: 404; malformed: 400.",
        parameters=[OpenApiParameter("digest", OpenApiTypes.STR, OpenApiParameter.PATH, pattern="^[0-9a-fA-F]{64}$")],
        responses=VerificationSerializer,
    )
    def get(self, request: Request, digest: str) -> Response:
        normalized = digest.lower()
        if not is_digest(normalized):
            raise ValidationError(
                {"digest": f"A round digest is 64 hexadecimal characters (0-9, a-f); this one has {len(digest)}."}
            )
        round_ = decided_round_by_digest(normalized)
        if round_ is None:
            raise NotFound("No decided round has this digest: check that it was copied whole from the letter.")
        context = {"standing": project_standing(round_.project)}
        return Response(VerificationSerializer(verify_round(round_), context=context).data)
