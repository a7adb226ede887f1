"""Guards that act before Django reads a request body, and the log line of every refusal.

RequestCapMiddleware is the first middleware, ahead of the session and CSRF middleware: the
CSRF check reads `request.POST`, which parses a multipart body, so without it an anonymous
client could make the server read (and spool to disk) gigabytes before being sent to log in.
It looks only at the headers and, for a multipart body, at the session cookie:

- a Content-Length beyond the cap of the URL (settings.REQUEST_LIMITS by URL name, else
  REQUEST_MAX_BYTES) is refused with 413, and a body without a Content-Length (chunked
  transfer) with 411: Django reads a body only up to its Content-Length (LimitedStream),
  so these two checks bound every byte read by the cap, whatever the body really holds;
- a body beyond ANONYMOUS_REQUEST_MAX_BYTES (what Django parses in memory, no temporary
  file) from someone not signed in, or any multipart body to an upload URL
  (settings.UPLOAD_PERMISSIONS) from them, is sent to log in; an upload from someone who may
  not change that project gets the view's own 404 or 403; all without reading a byte of the
  body. Checking the session cookie costs one session read (and one user read), and only
  for these requests: the public forms (log in, register) stay open, with small bodies.
- the API's URLs (namespaces in settings.TOKEN_AUTH_NAMESPACES) have no session: their
  sender is the user of the bearer token (settings.API_REQUEST_USER, a callable imported
  only when such a request comes, so this module never imports the api app), any body to
  one of their upload URLs is judged like a multipart upload, and the refusals are JSON.

Caps and upload permissions are keyed by the URL's view name (`namespace:name` for
namespaced URLs, the plain name otherwise).

`log_denial` writes the one structured line (logger "reviews.security") of every refused
request, with the user, the client address and the URL: the refusals here, permission and
rules denials (handler403), CSRF failures (CSRF_FAILURE_VIEW) and django-axes lockouts
(reviews.receivers), all in reviews.views.errors. Denials are not chained activity rows:
the activity log records changes (SECURITY.md), and a row per refusal would let anyone grow
it and contend for its chain head at will. (A middleware that logged every 403 answer was
tried first: on the normal path of every request it made the answer page's pathological
Markdown test four times slower, for reasons not understood; the handlers cost nothing.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.urls import Resolver404, ResolverMatch, resolve
from django.utils.module_loading import import_string

from reviews.http import client_ip

log = logging.getLogger("reviews.security")

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def client_address(request: HttpRequest) -> str:
    """The one place the denial log reads the client's address (reviews.http.client_ip:
    REMOTE_ADDR, or the trusted proxy's header when TRUSTED_PROXY_HOPS says so)."""
    return client_ip(request)


def _user_text(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    try:
        if user is not None and user.is_authenticated:
            return f"{user.get_username()} (id {user.pk})"
    except Exception:  # noqa: BLE001 (the session's database may be the reason for the refusal)
        return "unknown"
    return "anonymous"


def log_denial(request: HttpRequest, status: int, reason: str = "") -> None:
    """One line per refused request; values are JSON-quoted, so a crafted URL cannot forge lines."""
    fields = {
        "status": status,
        "user": _user_text(request),
        "address": client_address(request),
        "method": request.method,
        "url": request.get_full_path()[:500],
        "reason": reason[:300],
    }
    log.warning("denied %s", " ".join(f"{key}={json.dumps(value)}" for key, value in fields.items()))


def _match(request: HttpRequest) -> ResolverMatch | None:
    try:
        return resolve(request.path_info)
    except Resolver404:
        return None


def request_cap(match: ResolverMatch | None) -> int:
    """The largest body the URL accepts, in bytes."""
    name = match.view_name if match is not None else ""
    return int(settings.REQUEST_LIMITS.get(name, settings.REQUEST_MAX_BYTES))


def _token_sent(match: ResolverMatch | None) -> bool:
    """Whether the URL's sender is named by a bearer token (the API), not by a session."""
    return match is not None and match.namespace in settings.TOKEN_AUTH_NAMESPACES


def _refusal(request: HttpRequest, status: int, headline: str, detail: str) -> HttpResponse:
    if _token_sent(_match(request)):
        log_denial(request, status, headline)
        return JsonResponse({"detail": f"{headline}. {detail}"}, status=status)
    # Rendered without the request: no session or database is read to refuse a request.
    html = loader.render_to_string("413.html", {"status": status, "headline": headline, "detail": detail})
    response = HttpResponse(html, status=status)
    log_denial(request, status, headline)
    return response


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def _session_user(request: HttpRequest) -> Any:
    """The signed-in user of the session cookie (one session read, one user read), else anonymous.

    The same checks as AuthenticationMiddleware (session hash, active account); the session
    middleware replaces `request.session` with its own store afterwards.
    """
    if not request.COOKIES.get(settings.SESSION_COOKIE_NAME):
        return AnonymousUser()
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES[settings.SESSION_COOKIE_NAME])
    return get_user(request)


class RequestCapMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self.check(request)
        return refused if refused is not None else self.get_response(request)

    def check(self, request: HttpRequest) -> HttpResponse | None:
        if "\x00" in request.path_info and not _token_sent(_match(request)):
            # No page is named by a NUL ("/projects/1/checklist/a%00b/"): a str path converter passes
            # it on, and PostgreSQL refuses it in any text lookup with an error (a 500). The API's views
            # answer such a code with their own 404.
            raise Http404("No page has a NUL character in its address.")
        raw = str(request.META.get("CONTENT_LENGTH") or "").strip()
        if not raw:
            if request.META.get("HTTP_TRANSFER_ENCODING") and request.method in BODY_METHODS:
                return _refusal(
                    request,
                    411,
                    "A request body must state its length",
                    "This server reads a body only when its Content-Length is given; send the form again "
                    "from the page (browsers do this by themselves).",
                )
            return None
        if not raw.isdigit():
            return _refusal(request, 400, "Malformed request", "The Content-Length header is not a number.")
        length = int(raw)
        match = _match(request)
        cap = request_cap(match)
        if length > cap and _token_sent(match):
            return _refusal(
                request,
                413,
                f"This request is larger than the {cap:,} bytes this URL accepts",
                f"It was {length:,} bytes; nothing of it was read or stored. Send a large file as a resumable "
                "upload, in chunks no larger than the upload's chunk_max_bytes.",
            )
        if length > cap:
            return _refusal(
                request,
                413,
                f"This request is larger than the {_megabytes(cap)} this page accepts",
                f"It was {_megabytes(length)}; nothing of it was read or stored. Upload fewer or smaller files "
                "at a time, or put a large image set in an archive of at most that size.",
            )
        # A token-sent upload is judged whatever its content type (a chunk is a raw body).
        upload = _token_sent(match) or str(request.META.get("CONTENT_TYPE", "")).lower().startswith("multipart/")
        permission = settings.UPLOAD_PERMISSIONS.get(match.view_name) if match is not None else None
        if length > settings.ANONYMOUS_REQUEST_MAX_BYTES or (upload and permission and length):
            return self.check_sender(request, match, permission if upload else None)
        return None

    def check_sender(
        self, request: HttpRequest, match: ResolverMatch | None, permission: str | None
    ) -> HttpResponse | None:
        """A large body, or any upload, is read only for a signed-in user; an upload only for one
        who may change the project (the view's own 404 / 403), before a byte of it is read."""
        token_sent = _token_sent(match)
        user = import_string(settings.API_REQUEST_USER)(request) if token_sent else _session_user(request)
        if not user.is_authenticated:
            if token_sent:
                log_denial(request, 401, "body from a request without a usable token: not read")
                response = JsonResponse({"detail": "Send a usable personal API token."}, status=401)
                response["WWW-Authenticate"] = 'Bearer realm="MISyn Review API"'
                return response
            log_denial(request, 302, "body too large for a visitor who is not signed in: sent to log in, not read")
            return redirect_to_login(request.get_full_path())
        project_pk = _project_pk(match)
        if permission is None or project_pk is None:
            return None
        from reviews.views.access import get_project  # the views' own 404 / 403 rule

        request.user = user
        try:
            get_project(request, project_pk, perm=permission)
        except Http404:
            return _error_answer(request, 404, "No such project", token_sent)
        except PermissionDenied as denied:
            log_denial(request, 403, f"{denied} (upload refused before reading its body)")
            return _error_answer(request, 403, str(denied), token_sent)
        return None


def _project_pk(match: ResolverMatch | None) -> int | None:
    """The project a URL names: `pk` in the pages, `id` in the API."""
    if match is None:
        return None
    value = match.kwargs.get("pk", match.kwargs.get("id"))
    return int(value) if value is not None else None


def _error_answer(request: HttpRequest, status: int, exception: str, token_sent: bool) -> HttpResponse:
    if token_sent:
        return JsonResponse({"detail": exception[:1].upper() + exception[1:] + "."}, status=status)
    return _error_page(request, status, exception)


def _error_page(request: HttpRequest, status: int, exception: str) -> HttpResponse:
    """The 404 or 403 page, rendered here rather than by raising: Django's error views run the
    CSRF check (requires_csrf_token), and the CSRF check parses the body we must not read."""
    html = loader.render_to_string(f"{status}.html", {"exception": exception}, request)
    return HttpResponse(html, status=status)
