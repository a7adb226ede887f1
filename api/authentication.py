"""`Authorization: Bearer msr_…`: the only way into the API. No session cookies, so no CSRF to
guard, and what a request may do is exactly what its token's user and scope allow.

A refused token counts toward its address's anonymous allowance (api.throttling), so a client
that keeps sending unknown or revoked tokens is held back like any anonymous caller, although
DRF checks throttles only after authentication has succeeded."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from api.models import ApiToken
from api.services.tokens import TOKEN_START, token_digest, token_used
from api.throttling import RefusedTokenThrottle
from reviews.http import client_ip

KEYWORD = b"bearer"


def _raw_token(request: HttpRequest) -> str | None:
    """The bearer token of the request, None when there is none; a malformed header is refused."""
    parts = get_authorization_header(request).split()  # type: ignore[arg-type]  # it reads request.META only
    if not parts:
        return None
    if parts[0].lower() != KEYWORD:
        # Another scheme ("Token msr_…", "Basic …") would otherwise read as "no credentials".
        scheme = parts[0].decode("ascii", "replace")[:20]
        raise exceptions.AuthenticationFailed(f"Send the token as “Authorization: Bearer msr_…”, not “{scheme}”.")
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed("The Authorization header must be “Bearer <token>”.")
    try:
        raw = parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("The token contains characters a token never has.") from None
    if not raw.startswith(TOKEN_START):
        raise exceptions.AuthenticationFailed(f"This is not a MISyn Review token (they start with “{TOKEN_START}”).")
    return raw


def token_for_request(request: HttpRequest) -> ApiToken | None:
    """The usable token the request carries, or None (no token); an unknown, expired or revoked
    token, or one whose account is inactive, is refused with a sentence saying which."""
    raw = _raw_token(request)
    if raw is None:
        return None
    token = ApiToken.objects.select_related("user").filter(key_sha256=token_digest(raw)).first()
    if token is None:
        raise exceptions.AuthenticationFailed("Unknown token.")
    if token.is_revoked:
        raise exceptions.AuthenticationFailed("This token was revoked.")
    if token.is_expired:
        raise exceptions.AuthenticationFailed(f"This token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC.")
    if not token.user.is_active:
        raise exceptions.AuthenticationFailed("The token's account is deactivated.")
    return token


def _address(request: HttpRequest) -> str | None:
    address = client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        try:
            token = token_for_request(request._request)
        except exceptions.AuthenticationFailed:
            throttle = RefusedTokenThrottle()
            view: Any = (request.parser_context or {}).get("view")
            if not throttle.allow_request(request, view):
                raise exceptions.Throttled(throttle.wait()) from None
            raise
        if token is None:
            return None
        token_used(token=token, address=_address(request._request))
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes a missing or refused token a 401 (with this challenge), not a 403.
        return 'Bearer realm="MISyn Review API"'


def request_token_user(request: HttpRequest) -> Any:
    """The user of the request's usable token, else an anonymous user: how RequestCapMiddleware
    (settings.API_REQUEST_USER) knows an API upload's sender before a byte of its body is read.
    Not a use of the token: the view's authentication records that."""
    try:
        token = token_for_request(request)
    except exceptions.AuthenticationFailed:
        return AnonymousUser()
    return token.user if token is not None else AnonymousUser()
