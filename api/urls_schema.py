"""The API's description: the OpenAPI 3 schema (YAML, or JSON with ?format=json or
`Accept: application/json`) and its documentation page, both public."""

from django.urls import URLPattern, path
from drf_spectacular.views import SpectacularAPIView

import api.schema  # noqa: F401 (registers the Bearer scheme before any schema is generated)
from api.views.schema import ApiDocsView

urlpatterns: list[URLPattern] = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", ApiDocsView.as_view(), name="docs"),
]
