"""The client's address, one answer for the throttles and django-axes (AXES_CLIENT_IP_CALLABLE)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or, behind TRUSTED_PROXY_HOPS reverse proxies, the address the outermost
    of them saw: that many entries from the right of X-Forwarded-For.

    Each proxy appends the address it received the request from, so only the rightmost
    entries were written by proxies we run; everything left of them is whatever the client
    sent, and trusting the leftmost entry would let anyone pick their address (and so dodge
    the throttles, or lock someone else out). A header with fewer entries than hops did not
    come through every proxy, and a value that is not an address is ignored: REMOTE_ADDR then.
    """
    remote = str(request.META.get("REMOTE_ADDR", ""))
    hops = settings.TRUSTED_PROXY_HOPS
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        return remote
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
