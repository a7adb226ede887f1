"""GET /api/v1/me/: a pipeline's first call, to check that its token works and whose it is."""

from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import SignedIn, TokenScopeAllows
from api.serializers.me import MeSerializer
from reviews.models import User


class MeView(APIView):
    permission_classes = [SignedIn, TokenScopeAllows]

    @extend_schema(
        operation_id="me_retrieve",
        summary="The account and the token of this request",
        responses={200: MeSerializer},
        tags=["account"],
    )
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)  # SignedIn let only a token's account through
        return Response(MeSerializer(user, context={"request": request, "token": request.auth}).data)
