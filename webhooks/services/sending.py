"""One HTTP POST to a hook's receiver, with the standard library (no new dependency).

The connection goes to the address that validators.hook_target checked, not to a second DNS
answer; HTTPS still verifies the certificate against the host name (SNI). Redirects are not
followed (http.client never does): a 3xx counts as a failed attempt.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError

from webhooks.validators import Target, hook_target


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _in_words(error: OSError | http.client.HTTPException) -> str:
    """What went wrong, said to the person reading the delivery log, then the technical detail
    in brackets for whoever runs the receiver."""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    if isinstance(error, ssl.SSLCertVerificationError):
        words = "The receiver's TLS certificate was not accepted (expired, self-signed or for another host name)."
    elif isinstance(error, ssl.SSLError):
        words = "The TLS handshake with the receiver failed."
    elif isinstance(error, ConnectionRefusedError):
        words = "The receiver refused the connection."
    elif isinstance(error, TimeoutError):
        words = f"The receiver did not answer within {timeout} seconds."
    elif isinstance(error, socket.gaierror):
        words = "The receiver's host name could not be resolved."
    elif isinstance(error, http.client.RemoteDisconnected):
        words = "The receiver closed the connection without answering."
    elif isinstance(error, ConnectionResetError):
        words = "The receiver reset the connection."
    elif isinstance(error, http.client.HTTPException):
        words = "The receiver's answer was not valid HTTP."
    else:
        words = "The connection to the receiver failed."
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return f"{words} ({detail[:300]})"


def _connect(addresses: tuple[str, ...], port: int, timeout: float | None) -> socket.socket:
    """The first checked address that accepts, like socket.create_connection over a name."""
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as refused:
            error = refused
    raise error or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._addresses = target.addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._addresses = target.addresses

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self.timeout)
        # The certificate is checked against the hook's host name, not the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = hook_target(url)
    except ValidationError as error:
        return Answer(None, "", f"Not sent: {' '.join(error.messages)}", elapsed())
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    connection: http.client.HTTPConnection = (
        _PinnedHTTPSConnection(target, timeout) if target.scheme == "https" else _PinnedHTTPConnection(target, timeout)
    )
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        kept = response.read(settings.WEBHOOK_RESPONSE_KEEP_BYTES)
        redirect = ""
        if 300 <= response.status < 400:
            redirect = f"Redirect to {response.getheader('Location', '?')[:300]} not followed."
        return Answer(response.status, kept.decode("utf-8", errors="replace"), redirect, elapsed())
    except (OSError, http.client.HTTPException) as error:
        return Answer(None, "", _in_words(error), elapsed())
    finally:
        connection.close()
