"""The address people open the site at, for the links in emails.

A configured SITE_URL wins. Without one (a development server on whatever port), each request
records the address it arrived at (scheme and host, which ALLOWED_HOSTS has already vetted),
in this process and in the shared cache, so that an email sent later by a view, a service or
the Celery worker links to the address people actually use; before any request, the
development server's address from PORT.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase

logger = logging.getLogger(__name__)
CACHE_KEY = "site-origin"
_seen: str = ""  # the origin this process last recorded


def request_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def site_url(request: HttpRequest | None = None) -> str:
    """The site's address without a trailing slash: "http://127.0.0.1:8011"."""
    if settings.SITE_URL_CONFIGURED:
        return str(settings.SITE_URL).rstrip("/")
    if request is not None:
        return request_origin(request)
    return _seen or str(cache.get(CACHE_KEY) or settings.SITE_URL).rstrip("/")


class SiteOriginMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        global _seen  # one origin per process, written when it changes
        if not settings.SITE_URL_CONFIGURED:
            try:
                origin = request_origin(request)
            except DisallowedHost:  # Django answers 400 to it later
                origin = ""
            if origin and origin != _seen:
                _seen = origin
                try:
                    cache.set(CACHE_KEY, origin, timeout=None)
                except Exception:  # a cache outage must not fail the page; this process still knows it
                    logger.warning("site origin %s not shared through the cache", origin, exc_info=True)
        return self.get_response(request)
