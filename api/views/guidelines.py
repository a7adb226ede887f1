"""Guideline versions, as the catalogue pages list them: published versions for every active
account, drafts too for administrators (reviews.selectors.catalogue.versions_visible_to); a
version the caller may not see answers 404."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import SignedIn, TokenScopeAllows
from api.serializers.records import GuidelineVersionDetailSerializer, GuidelineVersionSerializer
from reviews.models import GuidelineVersion
from reviews.selectors.catalogue import MANAGE_CATALOGUE, review_policy_of, version_with_tree, versions_visible_to

TAGS = ["guidelines"]


def _with_counts(versions: QuerySet[GuidelineVersion]) -> QuerySet[GuidelineVersion]:
    return versions.annotate(item_count=Count("items", distinct=True), stage_count=Count("stages", distinct=True))


def _require_catalogue(request: Request) -> None:
    if not request.user.has_perm("reviews.view_catalogue"):
        raise PermissionDenied("the guideline catalogue is open to active accounts only")


class GuidelineVersionList(ListAPIView[GuidelineVersion]):
    """Each guideline set's versions, newest first."""

    permission_classes = [SignedIn, TokenScopeAllows]
    serializer_class = GuidelineVersionSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[GuidelineVersion]:
        _require_catalogue(self.request)
        return _with_counts(versions_visible_to(self.request.user)).order_by("guideline_set__name", "-number")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "editor": self.request.user.has_perm(MANAGE_CATALOGUE)}

    @extend_schema(tags=TAGS, summary="Guideline versions")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class GuidelineVersionDetail(APIView):
    permission_classes = [SignedIn, TokenScopeAllows]

    @extend_schema(
        tags=TAGS,
        summary="A guideline version: its stages and items, and its sign-off policy",
        responses=GuidelineVersionDetailSerializer,
    )
    def get(self, request: Request, id: int) -> Response:
        _require_catalogue(request)
        version = _with_counts(version_with_tree(id).filter(pk__in=versions_visible_to(request.user))).first()
        if version is None:
            raise NotFound("No such guideline version.")
        context = {"policy": review_policy_of(version), "editor": request.user.has_perm(MANAGE_CATALOGUE)}
        return Response(GuidelineVersionDetailSerializer(version, context=context).data)
