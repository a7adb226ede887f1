"""Throttles: per-user and per-address limits on the shared cache, answered with 429.

A fixed window per scope and identity (`settings.THROTTLE_RATES`: count per seconds) that
opens with the first attempt: its counter is created with `cache.add` and raised with
`cache.incr`, both single atomic commands on Redis, so the limit holds across gunicorn
workers and hosts; Retry-After is the time left until the window closes. The file cache of
the embedded default raises its counters by read-and-write, which is good enough for one
machine. Identities (addresses, user ids, names, emails) are hashed into the keys.

If the cache cannot be reached the request is let through and the failure logged: a
broken Redis must not lock every reviewer out, and django-axes (in the database) still
locks repeated wrong passwords.

django-ratelimit was considered and not used: its last release (4.1.0, July 2023) declares
Django up to 4.2, it answers 403 with no Retry-After, and it cannot count only the failed
attempts, which the per-name login limit needs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core import signing
from django.core.cache import BaseCache, caches
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from redis.exceptions import RedisError

from reviews.http import client_ip
from reviews.middleware import log_denial

logger = logging.getLogger("reviews.throttling")

KeyFunc = Callable[[HttpRequest], str | None]
View = TypeVar("View", bound=Callable[..., HttpResponseBase])

# What the 429 page says was done too often, by the first word of the scope.
ACTIONS = {
    "login": "log-in attempts",
    "register": "registrations",
    "password": "password reset requests",
    "verification": "confirmation emails",
    "sign": "signatures",
    "upload": "image-set uploads",
    "audit": "audit-run requests",
    "objection": "questions and objections",
    "verify": "letter verifications",
    "webhook": "webhook test events and redeliveries",
}


def by_address(request: HttpRequest) -> str | None:
    """The client's address; for IPv6 its /64 network, since one subscriber usually holds a
    whole /64 and could otherwise take a fresh address for every attempt."""
    address = client_ip(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address or None
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def by_anonymous_address(request: HttpRequest) -> str | None:
    """For pages that send a signed-in user elsewhere: their requests are not attempts."""
    return None if request.user.is_authenticated else by_address(request)


def by_user(request: HttpRequest) -> str | None:
    return str(request.user.pk) if request.user.is_authenticated else None


def by_field(name: str) -> KeyFunc:
    """A posted value (a username, an email address), compared without case or spaces."""

    def key(request: HttpRequest) -> str | None:
        if request.user.is_authenticated:
            return None
        return str(request.POST.get(name, "")).strip().lower() or None

    return key


DEVICE_COOKIE = "misyn_device"
_DEVICE_SALT = "reviews.throttling.device"
_DEVICE_NAMES_MAX = 5


def device_names(request: HttpRequest) -> list[str]:
    """The names (lower case) that signed in from this browser before, from its signed cookie."""
    try:
        value = request.get_signed_cookie(
            DEVICE_COOKIE, default="", salt=_DEVICE_SALT, max_age=settings.LOGIN_DEVICE_COOKIE_DAYS * 86400
        )
    except signing.BadSignature:
        return []
    return [name for name in (value or "").split(",") if name]


def remember_device(request: HttpRequest, response: HttpResponseBase, username: str) -> None:
    """After a successful sign-in: add the name to this browser's cookie (the latest few names).
    Usernames cannot contain commas (Django's username validator), so the list is comma-joined."""
    name = username.strip().lower()
    names = [name, *(known for known in device_names(request) if known != name)][:_DEVICE_NAMES_MAX]
    response.set_signed_cookie(
        DEVICE_COOKIE,
        ",".join(names),
        salt=_DEVICE_SALT,
        max_age=settings.LOGIN_DEVICE_COOKIE_DAYS * 86400,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def by_field_unless_known_device(name: str) -> KeyFunc:
    """Like by_field, but a browser that this name signed in from before is left out of the limit:
    wrong guesses from elsewhere then lock out other browsers only, never the owner's own. The
    per-address limit and django-axes (name and address) still count that browser's attempts."""
    field_key = by_field(name)

    def key(request: HttpRequest) -> str | None:
        ident = field_key(request)
        return None if ident is not None and ident in device_names(request) else ident

    return key


@dataclass(frozen=True)
class Limit:
    scope: str  # a key of settings.THROTTLE_RATES
    key: KeyFunc  # whose counter; None leaves the request out of this limit
    # None: every attempt counts. Otherwise only the requests whose response this accepts
    # (a failed login), and the limit is checked before the view runs.
    counts: Callable[[HttpResponseBase], bool] | None = None


def _keys(scope: str, ident: str) -> tuple[str, str]:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    return f"throttle:{scope}:{digest}:count", f"throttle:{scope}:{digest}:since"


def _retry_after(since: float | None, period: int, now: float) -> int:
    return max(1, math.ceil((since if since is not None else now) + period - now))


def throttle_hit(scope: str, ident: str, *, store: BaseCache | None = None) -> int | None:
    """Count one attempt; the seconds to wait if it goes over the limit, else None."""
    store = store or caches["default"]
    limit, period = settings.THROTTLE_RATES[scope]
    count_key, since_key = _keys(scope, ident)
    now = time.time()
    try:
        # The window opens with its first attempt and both keys expire when it closes.
        store.add(count_key, 0, timeout=period)
        store.add(since_key, now, timeout=period)
        try:
            count = store.incr(count_key)
        except ValueError:  # the window closed between the two calls
            store.add(count_key, 1, timeout=period)
            count = 1
        since = store.get(since_key)
        if type(store).incr is BaseCache.incr:
            # The generic incr (the file cache) writes the value back with the default
            # timeout: give the counter its window's end again.
            store.touch(count_key, timeout=_retry_after(since, period, now))
        return None if count <= limit else _retry_after(since, period, now)
    except (RedisError, OSError):
        logger.exception("throttle %s not counted: the cache is unreachable", scope)
        return None


def throttle_check(scope: str, ident: str, *, store: BaseCache | None = None) -> int | None:
    """Without counting: the seconds to wait if the limit is already reached, else None."""
    store = store or caches["default"]
    limit, period = settings.THROTTLE_RATES[scope]
    count_key, since_key = _keys(scope, ident)
    try:
        values = store.get_many([count_key, since_key])
    except (RedisError, OSError):
        logger.exception("throttle %s not checked: the cache is unreachable", scope)
        return None
    if int(values.get(count_key, 0)) < limit:
        return None
    return _retry_after(values.get(since_key), period, time.time())


def throttled_response(request: HttpRequest, *, scope: str, retry_after: int) -> HttpResponse:
    # The same denial line as every other refusal (user, address, URL), on reviews.security.
    log_denial(request, 429, f"throttled {scope}, retry after {retry_after} s")
    context = {
        "action": ACTIONS.get(scope.split("-", 1)[0], "requests"),
        "retry_after": retry_after,
        "retry_minutes": math.ceil(retry_after / 60),
    }
    response = render(request, "429.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def throttle(*limits: Limit, methods: tuple[str, ...] = ("POST",)) -> Callable[[View], View]:
    """Apply the limits to a view's `methods`; over any of them the view does not run."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                return view(request, *args, **kwargs)
            keyed = [(limit, ident) for limit in limits if (ident := limit.key(request))]
            for limit, ident in keyed:
                check = throttle_check if limit.counts else throttle_hit
                retry_after = check(limit.scope, ident)
                if retry_after is not None:
                    return throttled_response(request, scope=limit.scope, retry_after=retry_after)
            response = view(request, *args, **kwargs)
            for limit, ident in keyed:
                if limit.counts is not None and limit.counts(response):
                    throttle_hit(limit.scope, ident)
            return response

        return cast(View, wrapped)

    return decorate
