"""Error pages that need more than a template: a service outage (503), a refusal (403, logged
with who, from where and what) and a CSRF failure.

Django sends every uncaught exception, in a view or in a middleware (the session middleware
reading its table, say), to `handler500` while the exception is being handled; a database
or Redis that cannot be reached becomes a 503 with Retry-After there, instead of a 500.
The page is rendered without the request, so that it needs neither the session nor the
database that just failed.
"""

from __future__ import annotations

import sys

import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.views import defaults

from reviews.middleware import log_denial

# A connection that failed or was lost, not a query that is wrong (those stay 500s).
UNAVAILABLE = (OperationalError, InterfaceError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RETRY_AFTER_SECONDS = 30


def server_error(request: HttpRequest) -> HttpResponse:
    if isinstance(sys.exc_info()[1], UNAVAILABLE):
        return service_unavailable()
    response: HttpResponseServerError = defaults.server_error(request)
    return response


def service_unavailable() -> HttpResponse:
    html = loader.render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS})
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: every PermissionDenied (the views' rules checks, the admin) is logged."""
    log_denial(request, 403, str(exception) or "permission denied")
    response: HttpResponse = defaults.permission_denied(request, exception)
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's check refused the form: say what to do, and log the reason."""
    log_denial(request, 403, f"CSRF check failed: {reason}")
    message = "the form was open too long or came from another site; reload the page and send it again"
    return HttpResponse(loader.render_to_string("403.html", {"exception": message}, request), status=403)
