"""A webhook receiver on localhost, in a thread, that verifies what it receives the way
docs/webhooks.md tells receivers to (written out again here, not imported from the app, so a
signing bug cannot verify itself).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPLAY_WINDOW_SECONDS = 300


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool  # signature matches and the timestamp is within the replay window

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    secret: str = ""
    statuses: list[int] = field(default_factory=list)  # answers in turn; the last one repeats
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        fields = dict(part.split("=", 1) for part in headers.get("X-MISyn-Signature", "").split(","))
        timestamp = fields.get("t", "")
        if timestamp != headers.get("X-MISyn-Timestamp") or abs(time.time() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
            return False
        expected = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields.get("v1", ""))

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key: value for key, value in self.headers.items()}
            receiver.received.append(Received(headers, body, receiver.verify(headers, body)))
            n = len(receiver.received)
            status = receiver.statuses[min(n, len(receiver.statuses)) - 1] if receiver.statuses else 200
            answer = json.dumps({"attempt": n, "status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts what arrived, the log would only clutter pytest's output."""

    return Handler


@contextmanager
def running_receiver(
    *, secret: str = "", statuses: list[int] | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[Receiver]:
    """`tls` (certificate, key) serves HTTPS as https://localhost:<port>/."""
    receiver = Receiver(secret=secret, statuses=statuses or [200])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    port = server.server_address[1]
    receiver.url = f"http://127.0.0.1:{port}/hooks/misyn"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        receiver.url = f"https://localhost:{port}/hooks/misyn"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
