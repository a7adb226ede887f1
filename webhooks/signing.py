"""The signature of a delivery: HMAC-SHA256 with the hook's secret over "<timestamp>.<raw body>".

Sent as `X-MISyn-Signature: t=<unix seconds>,v1=<hex>`. The timestamp is inside the signed
text, so a receiver that refuses old timestamps also refuses replayed deliveries
(docs/webhooks.md shows a receiver).
"""

from __future__ import annotations

import hashlib
import hmac


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=body)}"


def signature_valid(*, secret: str, header: str, body: bytes, now: float, tolerance: int = 300) -> bool:
    """The receiver's side: the header parses, the timestamp is recent and the MAC matches."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, fields.get("v1", ""))
