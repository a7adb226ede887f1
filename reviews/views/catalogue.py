from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from reviews.models import GuidelineItem, GuidelineVersion, Stage


def _require_catalogue(request: HttpRequest) -> None:
    if not request.user.has_perm("reviews.view_catalogue"):
        raise PermissionDenied("the guideline catalogue is open to active accounts only")


@login_required
def catalogue_list(request: HttpRequest) -> HttpResponse:
    _require_catalogue(request)
    versions = GuidelineVersion.objects.select_related("guideline_set").annotate(
        item_count=Count("items", distinct=True), stage_count=Count("stages", distinct=True)
    )
    return render(request, "reviews/catalogue_list.html", {"versions": versions})


@login_required
def catalogue_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_catalogue(request)
    version = get_object_or_404(
        GuidelineVersion.objects.select_related("guideline_set").prefetch_related(
            Prefetch(
                "stages",
                queryset=Stage.objects.order_by("order").prefetch_related(
                    Prefetch("items", queryset=GuidelineItem.objects.order_by("order"))
                ),
            )
        ),
        pk=pk,
    )
    stages = list(version.stages.all())
    return render(
        request,
        "reviews/catalogue_detail.html",
        {"version": version, "stages": stages, "item_count": sum(len(s.items.all()) for s in stages)},
    )
