"""The request cap under gunicorn in production mode: how fast a 3 GiB body is refused, and
what it costs the web worker (peak memory, temporary disk); and how long a request that
sends a Celery message waits when the broker is down.

    .venv/bin/python -m bench.request_cap [--gib 3] [--within-cap-mb 256] [--keep]

It starts its own PostgreSQL database `misyn_request_cap` (dropped at the end), gunicorn with
config.settings.production (2 sync workers, TMPDIR in a folder of its own), and signs in two
researchers through the login form. Every body is made on the fly by a generator (never held
in memory or written to disk by the client) and sent over a raw socket, so the client stops
the moment the server answers. Peak memory is the web workers' kernel high-water mark
(VmHWM, over their whole life, so it only grows from case to case); temporary disk is
sampled every 20 ms in gunicorn's TMPDIR. Nothing here is imported by the app or the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.hardening import DiskSampler, endless_multipart

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
DB = "misyn_request_cap"
MiB = 1024 * 1024
PASSWORD = "bench-password-long-enough"  # noqa: S105 (a throwaway account of this benchmark)

SETUP = """
from django.utils import timezone
from reviews.models import User
from tests.factories import ProjectFactory
from reviews.services.catalogue import catalogue_load
version, _ = catalogue_load()
owner = User.objects.create_user("owner", "owner@example.org", "{password}", full_name="Olga Owner", role="researcher")
other = User.objects.create_user("other", "other@example.org", "{password}", full_name="Otto Other", role="researcher")
for user in (owner, other):
    if hasattr(user, "email_verified_at"):
        user.email_verified_at = timezone.now()
        user.save()
project = ProjectFactory(owner=owner, guideline_version=version, title="Bench project")
print(project.pk)
"""


@dataclass
class Answer:
    status: int
    seconds: float  # from the first byte sent to the first byte of the answer
    sent: int  # body bytes the client got onto the wire before the answer came
    location: str


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql], check=True, capture_output=True)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send(
    port: int, path: str, headers: dict[str, str], body: Iterator[bytes], *, chunked: bool = False, limit: float = 120
) -> Answer:
    """Stream `body` until the server answers (or closes), then read the status line."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall((head + "\r\n").encode())
    started, sent, pending = time.monotonic(), 0, b""
    answered = False
    try:
        while time.monotonic() - started < limit:
            readable, writable, _ = select.select([sock], [sock], [], 5)
            if readable:
                answered = True
                break
            if not writable:
                continue
            if not pending:
                piece = next(body, None)
                if piece is None:
                    if chunked:
                        sock.sendall(b"0\r\n\r\n")
                    break
                pending = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
            count = sock.send(pending[: 4 * 65536])
            pending = pending[count:]
            sent += count
    except (BrokenPipeError, ConnectionResetError):
        answered = True
    if not answered:
        select.select([sock], [], [], limit)
    seconds = time.monotonic() - started
    sock.settimeout(limit)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    sock.close()
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    location = re.search(rb"\r\nLocation: ([^\r]*)", data)
    return Answer(int(match.group(1)) if match else 0, seconds, sent, location.group(1).decode() if location else "")


def simple(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, str]:
    sock = socket.create_connection(("127.0.0.1", port))
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return int(data.split(b" ", 2)[1]), data.decode("latin-1")


def login(port: int, username: str) -> str:
    """Sign in through the login form; returns the Cookie header of the signed-in session."""
    _status, page = simple(port, "GET", "/accounts/login/", {})
    csrf = re.search(r"csrftoken=([^;]+)", page)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf and token, page[:2000]
    form = urlencode({"csrfmiddlewaretoken": token.group(1), "username": username, "password": PASSWORD}).encode()
    headers = {"Cookie": f"csrftoken={csrf.group(1)}", "Content-Type": "application/x-www-form-urlencoded"}
    status, answer = simple(port, "POST", "/accounts/login/", headers, form)
    session = re.search(r"sessionid=([^;]+)", answer)
    assert status == 302 and session, answer[:2000]
    return f"csrftoken={csrf.group(1)}; sessionid={session.group(1)}"


def workers_peak_mb(master: int) -> float:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    peaks = []
    for pid in children:
        with contextlib.suppress(OSError):
            found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            if found:
                peaks.append(int(found.group(1)) / 1024)
    return max(peaks, default=0.0)


def start(folder: Path) -> tuple[subprocess.Popen[bytes], int, int, dict[str, str]]:
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    psql(f"CREATE DATABASE {DB}")
    (folder / "tmp").mkdir()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "PRIVATE_STORAGE_ROOT": str(folder / "private"),
        "MISYN_VAR_DIR": str(folder / "var"),
        "STATIC_ROOT": str(folder / "static"),
        "TMPDIR": str(folder / "tmp"),
    }
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([PY, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    setup = subprocess.run(
        [PY, "manage.py", "shell", "-c", SETUP.format(password=PASSWORD)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    project = int(setup.stdout.strip().splitlines()[-1])
    log = open(folder / "web.log", "wb")  # noqa: SIM115 (kept open for the process's life)
    web = subprocess.Popen(
        [GUNICORN, "config.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "120"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if simple(port, "GET", "/accounts/login/", {})[0] == 200:
                return web, port, project, env
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer within 60 s:\n" + (folder / "web.log").read_text()[-3000:])


BROKER_PROBE = """
import time
from config.broker import send_after_commit
started = time.monotonic()
send_after_commit("audits.start_run", {{"run_id": 0}})  # outside a transaction: sent at once
print(f"{{time.monotonic() - started:.3f}}")
"""


def broker_seconds(url: str) -> float:
    """How long one send holds its caller with the broker at `url` (the settings' timeouts)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", "REDIS_URL": url}
    env.pop("CELERY_BROKER_URL", None)
    done = subprocess.run(
        [PY, "manage.py", "shell", "-c", BROKER_PROBE.format()],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def broker_rows() -> list[str]:
    silent = socket.socket()  # accepts connections (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        refused = broker_seconds("redis://127.0.0.1:1/0")
        hung = broker_seconds(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    finally:
        silent.close()
    return [
        f"| broker refuses connections (Redis stopped) | {refused:.2f} |",
        f"| broker accepts and never answers (Redis hung) | {hung:.2f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=3.0)
    parser.add_argument("--within-cap-mb", type=int, default=256)
    parser.add_argument("--keep", action="store_true", help="keep the folder and the database")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="misyn-request-cap-"))
    web, port, project, _env = start(folder)
    big = int(args.gib * 1024**3)
    upload = f"/projects/{project}/audits/upload/"
    rows: list[str] = []
    try:
        owner, other = login(port, "owner"), login(port, "other")
        rows.append(f"| (after start-up and two log-ins) | | | | | {workers_peak_mb(web.pid):.0f} |")

        def run(what: str, path: str, cookie: str, total: int, *, declared: int | None = None, chunked=False) -> None:
            token = re.search(r"csrftoken=([^;]+)", cookie)
            body, content_type = endless_multipart(total, token.group(1) if token else "x")
            headers = {"Content-Type": content_type}
            if cookie:
                headers["Cookie"] = cookie
            if chunked:
                headers["Transfer-Encoding"] = "chunked"
            else:
                headers["Content-Length"] = str(declared if declared is not None else total)
            with DiskSampler(folder / "tmp") as disk:
                answer = send(port, path, headers, body, chunked=chunked)
            peak = workers_peak_mb(web.pid)
            where = f" -> {answer.location}" if answer.location else ""
            rows.append(
                f"| {what} | {answer.status}{where} | {answer.seconds:.3f} | {answer.sent / MiB:,.1f} | "
                f"{disk.peak / MiB:,.1f} | {peak:.0f} |"
            )
            print(rows[-1], flush=True)

        gib = f"{args.gib:g} GiB"
        run(f"signed-in owner, {gib} to the image upload (a worker's first request)", upload, owner, big)
        run(f"signed-in owner, {gib} to the image upload, again", upload, owner, big)
        run(f"not signed in, {gib} to the image upload", upload, "", big)
        run("not signed in, 1 GiB (under the cap) to the image upload", upload, "", 1024**3)
        run(f"not signed in, {gib} to the login page", "/accounts/login/", "", big)
        run("not signed in, 5 MiB (under the page's cap) to the login page", "/accounts/login/", "", 5 * MiB)
        run("another researcher, 1 GiB (under the cap) to the owner's upload", upload, other, 1024**3)
        run(f"owner, chunked transfer (no Content-Length), {gib}", upload, owner, big, chunked=True)
        run(f"owner, Content-Length 1 MiB but {gib} sent", upload, owner, big, declared=MiB)
        run(f"owner, {args.within_cap_mb} MiB under the cap (read and stored)", upload, owner, args.within_cap_mb * MiB)
    finally:
        web.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            web.wait(20)
        leftovers = sorted(p.name for p in (folder / "tmp").iterdir())
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
            psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    print("\n| request | answer | seconds to answer | MiB sent before it | temp disk peak MiB | worker VmHWM MB |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\ntemporary files left behind: {leftovers or 'none'}")
    print("\n| broker | seconds one send holds the request |\n|---|---|")
    print("\n".join(broker_rows()))


if __name__ == "__main__":
    main()
