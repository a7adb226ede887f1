"""Where a hook may point: http(s) URLs whose host resolves only to public addresses.

Checked when a hook is saved and again before each delivery, and the delivery connects to the
very address that passed the check, so a name that later resolves somewhere private (DNS
rebinding) cannot turn a hook into a probe of the internal network.
settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES lifts the address check where receivers run locally,
except for link-local addresses (169.254.0.0/16, fe80::/10): they hold the cloud metadata
service (169.254.169.254), never a developer's receiver.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

URL_MAX_LENGTH = 500


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query string
    addresses: tuple[str, ...]  # the resolved addresses, all checked: the delivery connects to one of these


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _link_local(address: str) -> bool:
    return _ip(address).is_link_local


def _refused(address: str) -> bool:
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address) and (ip.sixtofour is not None or ip.teredo is not None):
        # 6to4 (2002::/16) and Teredo (2001::/32) carry an IPv4 address that a relay may
        # route to, private ones included; Python counts 6to4 as global. No receiver needs them.
        return True
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def hook_target(url: str) -> Target:
    """Parse and resolve a hook's URL; ValidationError says what is wrong with it."""
    if len(url) > URL_MAX_LENGTH:
        raise ValidationError(f"Use a URL of at most {URL_MAX_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError("Enter a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Enter an http:// or https:// URL with a host name.")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("Leave the user name and password out of the URL: receivers verify the signature.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):  # ValueError: a NUL in the name
        raise ValidationError(f"The host {parts.hostname} could not be resolved.") from None
    addresses = [str(info[4][0]) for info in found]
    if not addresses:
        raise ValidationError(f"The host {parts.hostname} could not be resolved.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES and any(_refused(address) for address in addresses):
        raise ValidationError(
            f"The host {parts.hostname} resolves to a private, loopback, link-local, multicast, reserved or "
            "IPv4-tunnelling (6to4, Teredo) address; webhooks go to public addresses only."
        )
    # Even where private addresses are allowed: see the module's docstring.
    if any(_link_local(address) for address in addresses):
        raise ValidationError(
            f"The host {parts.hostname} resolves to a link-local address (169.254.0.0/16 or fe80::/10), "
            "where cloud metadata services answer; webhooks never go there."
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    unique = tuple(dict.fromkeys(addresses))
    return Target(scheme=parts.scheme, host=parts.hostname, port=port, path=path, addresses=unique)


def validate_hook_url(url: str) -> None:
    hook_target(url)
