"""The API's answer to a URL that is no operation: JSON a client can read, not the site's page."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve, reverse


def unknown_operation(request: HttpRequest, rest: str = "") -> JsonResponse:
    detail = f"No API operation at {request.path}; the operations are listed at {reverse('api:docs')}."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "unknown":
            detail = f"No API operation at {request.path}: every path ends with a slash, {request.path}/."
    return JsonResponse({"detail": detail}, status=404)
