"""Throttles on Django's cache (Redis in production), through DRF's own classes: every request
of a token counts toward its user's allowance, whichever of the user's tokens sent it, and
anonymous requests toward their address. Writes that start work (uploads, audit runs) have a
tighter scope of their own. 429 carries Retry-After."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle

from reviews.http import client_ip


class _OurAddress:
    def get_ident(self, request: Request) -> str:
        # The same address as the pages' throttles and django-axes (TRUSTED_PROXY_HOPS).
        return client_ip(request._request)


class ApiUserThrottle(_OurAddress, UserRateThrottle):
    scope = "api-user"


class ApiAnonThrottle(_OurAddress, AnonRateThrottle):
    scope = "api-anonymous"


class ApiScopedThrottle(_OurAddress, ScopedRateThrottle):
    """For views that set `throttle_scope` (e.g. "api-upload"): counted per user."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None  # the anonymous throttle holds them
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class RefusedTokenThrottle(ApiAnonThrottle):
    """Counts a request whose token was refused toward its address's anonymous allowance.

    Called by the authentication itself, before the request has a user: it must not ask
    `request.user` (that would authenticate again)."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
