"""The API's documentation page: Swagger UI from drf-spectacular-sidecar's static files,
started by a static script of ours (drf-spectacular's own template has inline script and
style, which our Content-Security-Policy refuses)."""

from __future__ import annotations

from django.views.generic import TemplateView


class ApiDocsView(TemplateView):
    """A page anyone may open; trying an operation needs a token, given through "Authorize"."""

    template_name = "api/docs.html"
