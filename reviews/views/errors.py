"""Error pages that need more than a template: a service outage (503), a refusal (403, logged
with who, from where and what, and saying why when the view said), a CSRF failure and a
method the address does not accept (405, a page of the site instead of an empty body).

Django sends every uncaught exception, in a view or in a middleware (the session middleware
reading its table, say), to `handler500` while the exception is being handled; a database
or Redis that cannot be reached becomes a 503 with Retry-After there, instead of a 500, and so
does an object store that is down or overloaded (config.storage.storage_unavailable).
The page is rendered without the request, so that it needs neither the session nor the
database that just failed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseServerError
from django.template import loader
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults

from config.storage import STORAGE_RETRY_AFTER_SECONDS, STORAGE_UNAVAILABLE_MESSAGE, storage_unavailable
from reviews.middleware import log_denial

# A connection that failed or was lost, not a query that is wrong (those stay 500s).
UNAVAILABLE = (OperationalError, InterfaceError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RETRY_AFTER_SECONDS = 30


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    if isinstance(exc, UNAVAILABLE):
        return service_unavailable()
    if exc is not None and storage_unavailable(exc):
        return storage_unavailable_response()
    response: HttpResponseServerError = defaults.server_error(request)
    return response


def service_unavailable(*, reason: str = "", retry_after: int = RETRY_AFTER_SECONDS) -> HttpResponse:
    html = loader.render_to_string("503.html", {"retry_after": retry_after, "reason": reason})
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


def storage_unavailable_response() -> HttpResponse:
    """The 503 of a page that needed the object store while it was down (a download, say)."""
    return service_unavailable(reason=STORAGE_UNAVAILABLE_MESSAGE, retry_after=STORAGE_RETRY_AFTER_SECONDS)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: every PermissionDenied (the views' rules checks, the admin) is logged."""
    log_denial(request, 403, str(exception) or "permission denied")
    context = {"exception": str(exception), "back": _same_site_referer(request)}
    return HttpResponse(loader.render_to_string("403.html", context, request), status=403)


# The 403 page shows the reason a view gave (PermissionDenied("only the project's researcher
# can change it")) after "Why:", so reasons are written as a clause, lower case, no full stop.


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's check refused the form: say what to do, and log the reason."""
    log_denial(request, 403, f"CSRF check failed: {reason}")
    message = "the form was open too long or came from another site; reload the page and send it again"
    context = {"exception": message, "back": _same_site_referer(request)}
    return HttpResponse(loader.render_to_string("403.html", context, request), status=403)


def _same_site_referer(request: HttpRequest) -> str:
    """The page the person came from, when it is one of this site's (for a "Back" link)."""
    back = request.META.get("HTTP_REFERER", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    return ""


def _page_above(path: str) -> str:
    """The nearest page above a form's address (/projects/5/submit/ -> /projects/5/), if any."""
    parts = [part for part in path.split("/") if part]
    while parts:
        parts.pop()
        candidate = "/" + "".join(f"{part}/" for part in parts)
        try:
            match = resolve(candidate)
        except Resolver404:
            continue
        if getattr(match.func, "__name__", "") not in {"email_verify", "logout"}:
            return candidate
    return "/"


def method_not_allowed(request: HttpRequest, response: HttpResponseBase) -> HttpResponse:
    """The 405 of an address that only takes a form's submission (Django's require_POST
    answers with an empty body): a page that says so and leads back."""
    context = {
        "allowed": response.get("Allow", ""),
        "back": _same_site_referer(request),
        "above": _page_above(request.path),
    }
    page = HttpResponse(loader.render_to_string("405.html", context, request), status=405)
    if response.has_header("Allow"):
        page["Allow"] = response["Allow"]
    return page


class MethodNotAllowedMiddleware:
    """Turns the empty 405 of a view into the site's page (an HTML request only; HEAD and
    scripts asking for JSON keep the bare answer)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            response.status_code == 405
            and request.method == "GET"
            and not getattr(response, "streaming", False)
            and not response.content  # type: ignore[attr-defined]
            and "application/json" not in request.headers.get("Accept", "")
        ):
            return method_not_allowed(request, response)
        return response
