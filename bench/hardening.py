"""The hardening battery (issue 9): attacks and faults against the app in production mode.

    .venv/bin/python -m bench.hardening [--big-gib 3] [--only NAME ...] [--keep]

What it starts, all on this machine and all its own:

- a fresh PostgreSQL database `misyn_battery` (migrated and given demo data as its owner,
  `postgres`), used by the app as the restricted login role `misyn_battery_web`, a member of
  `misyn_app` (the roles of docker/postgres/10-misyn-roles.sh);
- a TCP relay in front of PostgreSQL and one in front of Redis (database 7), so that the
  battery can cut either service and bring it back without touching the servers others use;
- gunicorn (production settings, 2 sync workers, one trusted proxy hop: the battery plays
  the proxy and appends the client address to X-Forwarded-For), a Celery worker and beat.

Each item prints HELD or NOT HELD with what was measured. Peak memory of the web workers is
their kernel high-water mark (VmHWM); temporary disk is sampled every 20 ms in the folder
gunicorn's TMPDIR points at. Nothing here is imported by the app or the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import io
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
BIN = ROOT / ".venv" / "bin"
DB = "misyn_battery"
WEB_ROLE = "misyn_battery_web"
PG = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
REDIS_DB = 7  # the broker's database; the shared cache (throttle counters) has the next one
CACHE_DB = 8
DEMO_PASSWORD = "demo-password"  # noqa: S105 (the demo accounts' published password)
MiB = 1024 * 1024


# --------------------------------------------------------------------------- services


class Relay:
    """A TCP relay that can be cut (every connection dropped, new ones refused) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for a, b in self.pairs:
                for sock in (a, b):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            self.pairs.clear()

    def restore(self) -> None:
        self.up = True


def psql(sql: str, db: str = DB) -> str:
    out = subprocess.run(
        ["psql", "-h", PG[0], "-U", "postgres", "-d", db, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@dataclass
class Stack:
    folder: Path
    pg: Relay
    redis: Relay
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    port: int = 0

    @property
    def tmp(self) -> Path:
        return self.folder / "tmp"

    def web_workers(self) -> list[int]:
        return self.children("web")

    def children(self, name: str) -> list[int]:
        master = self.procs[name].pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [int(pid) for pid in children]

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_stack(folder: Path, big_cap_mb: int) -> Stack:
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    psql(f"CREATE DATABASE {DB}", db="postgres")
    psql(
        "DO $$ BEGIN "
        "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'misyn_app') THEN CREATE ROLE misyn_app NOLOGIN; END IF; "
        f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WEB_ROLE}') THEN CREATE ROLE {WEB_ROLE} LOGIN; END IF; "
        "END $$; "
        f"GRANT misyn_app TO {WEB_ROLE};",
        db="postgres",
    )
    for number in (REDIS_DB, CACHE_DB):
        subprocess.run(["redis-cli", "-n", str(number), "FLUSHDB"], check=True, capture_output=True)
    pg, redis = Relay(PG), Relay(REDIS)
    (folder / "tmp").mkdir()
    (folder / "private").mkdir()
    owner_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "PRIVATE_STORAGE_ROOT": str(folder / "private"),
        "MISYN_VAR_DIR": str(folder / "var"),
    }
    for command in (["migrate", "--noinput"], ["setup_demo"]):
        subprocess.run([PY, "manage.py", *command], cwd=ROOT, env=owner_env, check=True, capture_output=True)
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"postgres://{WEB_ROLE}@127.0.0.1:{pg.port}/{DB}",
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/{REDIS_DB}",
        "CACHE_REDIS_DB": str(CACHE_DB),
        "PRIVATE_STORAGE_ROOT": str(folder / "private"),
        "MISYN_VAR_DIR": str(folder / "var"),
        "TMPDIR": str(folder / "tmp"),
        "TRUSTED_PROXY_HOPS": "1",
        "IMAGE_UPLOAD_MAX_MB": str(big_cap_mb),
        "AUDIT_RECONCILE_SECONDS": "5",
        "AUDIT_QUEUED_RESEND_SECONDS": "5",
        "LOG_LEVEL": "INFO",
    }
    stack = Stack(folder=folder, pg=pg, redis=redis, env=env, port=port)
    subprocess.run([PY, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    commands = {
        "web": [str(BIN / "gunicorn"), "config.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "120"],
        "worker": [str(BIN / "celery"), "-A", "config", "worker", "--concurrency", "2", "--loglevel", "INFO"],
        "beat": [
            str(BIN / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(folder / "beat-schedule"),
        ],
    }
    for name, command in commands.items():
        out = open(folder / f"{name}.log", "wb")  # noqa: SIM115 (kept open for the process's life)
        stack.procs[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if Client(stack).get("/accounts/login/").status == 200:
                return stack
        time.sleep(0.5)
    raise SystemExit("gunicorn did not answer within 60 s:\n" + stack.log("web")[-3000:])


def stop_stack(stack: Stack) -> None:
    for proc in stack.procs.values():
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    for proc in stack.procs.values():
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


# --------------------------------------------------------------------------- HTTP


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str
    seconds: float

    def csrf(self) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.body)
        if not match:
            raise AssertionError(f"no CSRF token in a {self.status} page")
        return match.group(1)


class Client:
    """A browser-like client: its own cookies (Secure ones included: the battery is the TLS proxy),
    and an X-Forwarded-For with the address the proxy saw appended."""

    def __init__(self, stack: Stack, address: str = "198.51.100.7", spoof: str | None = None) -> None:
        self.stack = stack
        self.address = address
        self.spoof = spoof
        self.cookies: dict[str, str] = {}

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        forwarded = f"{self.spoof}, {self.address}" if self.spoof else self.address
        headers = {"Host": f"127.0.0.1:{self.stack.port}", "X-Forwarded-For": forwarded}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers.update(extra or {})
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.stack.port, timeout=timeout)
        start = time.monotonic()
        try:
            connection.request(method, path, body=body, headers=self._headers(headers))  # type: ignore[arg-type]
            answer = connection.getresponse()
            text = answer.read().decode("utf-8", "replace")
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The server answered and closed while the body was still being sent: read what it said.
            try:
                answer = connection.getresponse()
                text = answer.read().decode("utf-8", "replace")
            except Exception:  # noqa: BLE001
                return Response(0, {}, f"connection closed: {exc}", time.monotonic() - start)
        finally:
            connection.close()
        for raw in answer.headers.get_all("Set-Cookie") or []:
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if value in ('""', "") or "Max-Age=0" in raw:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return Response(answer.status, dict(answer.headers.items()), text, time.monotonic() - start)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, str], csrf_from: str | None = None) -> Response:
        token = self.get(csrf_from or path).csrf()
        body = urlencode({"csrfmiddlewaretoken": token, **data}).encode()
        return self.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://127.0.0.1:{self.stack.port}{csrf_from or path}",
            },
        )

    def login(self, username: str, password: str = DEMO_PASSWORD) -> Response:
        return self.post("/accounts/login/", {"username": username, "password": password})


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, content in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        out.write(content)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload(client: Client, project: int, role: str, files: list[tuple[str, bytes]]) -> Response:
    path = f"/projects/{project}/audits/upload/"
    token = client.get(path).csrf()
    body, content_type = multipart(
        {"csrfmiddlewaretoken": token, "role": role}, [("files", name, data) for name, data in files]
    )
    return client.request(
        "POST",
        path,
        body=body,
        headers={"Content-Type": content_type, "Referer": f"http://127.0.0.1:{client.stack.port}{path}"},
    )


def endless_multipart(total: int, token: str = "x") -> tuple[Iterator[bytes], str]:
    """A multipart body of `total` bytes made on the fly: one file of zeros, never held or stored."""
    boundary = secrets.token_hex(16)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="role"\r\n\r\nsynthetic\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.dcm"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        left = total - len(head) - len(tail)
        block = bytes(MiB)
        while left > 0:
            piece = block[: min(left, MiB)]
            left -= len(piece)
            yield piece
        yield tail

    return chunks(), f"multipart/form-data; boundary={boundary}"


class DiskSampler:
    """The largest size the folder reached while the context ran (sampled every 20 ms)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.peak = 0
        self._stop = threading.Event()

    def _size(self) -> int:
        total = 0
        for root, _dirs, files in os.walk(self.folder):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, name)).st_size
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._size())
            time.sleep(0.02)

    def __enter__(self) -> DiskSampler:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()
        self.peak = max(self.peak, self._size())


def peak_rss_mb(stack: Stack, name: str = "web") -> float:
    """The largest kernel high-water mark (VmHWM) among the web workers or the Celery pool processes."""
    peaks = []
    for pid in stack.children(name):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                peaks.append(int(match.group(1)) / 1024)
    return max(peaks, default=0.0)


# --------------------------------------------------------------------------- test images


def dicom_bytes(preamble: bytes = b"\x00" * 128, seed: int = 0) -> bytes:
    """A small real DICOM: pydicom's CT_small with its pixels shifted, under the given preamble."""
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file

    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    pixels = dataset.pixel_array.astype(np.int16)
    dataset.PixelData = np.roll(pixels, seed * 3, axis=1).tobytes()
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    raw = bytearray(buffer.getvalue())
    raw[:128] = preamble.ljust(128, b"\x00")[:128]
    return bytes(raw)


def zip_bomb(members: int = 1100, member_bytes: int = 1024 * 1024 - 1) -> bytes:
    """Many members each just under the per-member ratio floor: 1.07 GiB from about 1 MB."""
    buffer = io.BytesIO()
    block = bytes(member_bytes)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for index in range(members):
            archive.writestr(f"slice-{index:05d}.dcm", block)
    return buffer.getvalue()


def lying_nifti(declared: tuple[int, int, int] = (512, 512, 1024)) -> bytes:
    """A .nii.gz whose header declares a 1 GiB float32 volume, compressed to about a megabyte."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *declared, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 16, 32)  # float32, 32 bits
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352)
    header[344:348] = b"n+1\x00"
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as out:
        out.write(bytes(header))
        block = bytes(64 * MiB)
        for _ in range(declared[0] * declared[1] * declared[2] * 4 // len(block)):
            out.write(block)
    return raw.getvalue()


# --------------------------------------------------------------------------- the battery


@dataclass
class Outcome:
    name: str
    held: bool
    detail: str


def wait_for(check: Callable[[], Any], seconds: float = 60, step: float = 0.5) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    return check()


class Battery:
    def __init__(self, stack: Stack, big_bytes: int) -> None:
        self.stack = stack
        self.big = big_bytes
        self.project = int(psql("SELECT id FROM reviews_project WHERE status = 'draft' ORDER BY id LIMIT 1"))
        self.outcomes: list[Outcome] = []
        self.addresses = iter(f"203.0.113.{n}" for n in range(1, 250))

    def researcher(self) -> Client:
        client = Client(self.stack, address=next(self.addresses))
        answer = client.login("researcher")
        assert answer.status == 302, f"researcher login answered {answer.status}"
        return client

    def record(self, name: str, held: bool, detail: str) -> None:
        self.outcomes.append(Outcome(name, held, detail))
        print(f"{'HELD    ' if held else 'NOT HELD'}  {name}: {detail}", flush=True)

    def current_sets(self) -> dict[str, int]:
        rows = psql(f"SELECT role, id FROM audits_imageset WHERE project_id = {self.project} AND is_current")
        return {line.split("|")[0]: int(line.split("|")[1]) for line in rows.splitlines() if line}

    def newest_set(self) -> tuple[int, str, str]:
        row = psql(
            "SELECT id, coalesce(status, ''), coalesce(message, '') FROM audits_imageset "
            f"WHERE project_id = {self.project} ORDER BY id DESC LIMIT 1"
        )
        set_id, status, error = row.split("|", 2)
        return int(set_id), status, error

    # -- request size

    def big_body(self, *, signed_in: bool) -> None:
        client = self.researcher() if signed_in else Client(self.stack, address=next(self.addresses))
        path = f"/projects/{self.project}/audits/upload/"
        # Anonymous: a CSRF cookie and token from the login page, so the check must read the body to compare.
        token = client.get(path).csrf() if signed_in else client.get("/accounts/login/").csrf()
        body, content_type = endless_multipart(self.big, token)
        before = peak_rss_mb(self.stack)
        with DiskSampler(self.stack.tmp) as disk:
            answer = client.request(
                "POST",
                path,
                body=body,
                headers={"Content-Type": content_type, "Content-Length": str(self.big), "Referer": path},
            )
        rss = peak_rss_mb(self.stack)
        cap = int(self.stack.env["IMAGE_UPLOAD_MAX_MB"]) * MiB
        who = "signed in" if signed_in else "anonymous"
        refused = answer.status in (0, 302, 400, 403, 413) and answer.seconds < 5
        held = refused and rss < 300 and disk.peak < 2 * cap
        self.record(
            f"{self.big / 2**30:.1f} GiB body, {who}",
            held,
            f"answer {answer.status} in {answer.seconds:.2f} s; web worker peak RSS {before:.0f} -> {rss:.0f} MB; "
            f"temporary disk peak {disk.peak / MiB:.1f} MiB (cap {cap / MiB:.0f} MiB)",
        )

    def chunked_body(self) -> None:
        client = self.researcher()
        path = f"/projects/{self.project}/audits/upload/"
        token = client.get(path).csrf()
        body, content_type = endless_multipart(self.big, token)
        with DiskSampler(self.stack.tmp) as disk:
            answer = client.request(
                "POST",
                path,
                body=body,
                headers={"Content-Type": content_type, "Transfer-Encoding": "chunked", "Referer": path},
            )
        cap = int(self.stack.env["IMAGE_UPLOAD_MAX_MB"]) * MiB
        self.record(
            "chunked body without Content-Length",
            answer.status != 500 and answer.seconds < 60 and disk.peak < 2 * cap,
            f"answer {answer.status} in {answer.seconds:.2f} s; temporary disk peak {disk.peak / MiB:.1f} MiB",
        )

    # -- ingestion

    def ingest(self, name: str, files: list[tuple[str, bytes]], expect: str) -> None:
        """Refused whole (the set) or file by file (the file's reason), always naming the limit; the web
        worker never reads the bytes and the Celery process stays far below the expansion."""
        client = self.researcher()
        before = self.current_sets()
        rss_before = peak_rss_mb(self.stack)
        answer = upload(client, self.project, "synthetic", files)
        rss = peak_rss_mb(self.stack)
        set_id, _status, _error = self.newest_set()
        final = wait_for(lambda: self.newest_set()[1] in ("ready", "refused", "failed") and self.newest_set(), 120)
        status, error = (final[1], final[2]) if final else ("(never finished)", "")
        accepted = psql(f"SELECT n_accepted FROM audits_imageset WHERE id = {set_id}")
        reasons = psql(f"SELECT error FROM audits_imagefile WHERE image_set_id = {set_id} AND error <> ''")
        worker_rss = peak_rss_mb(self.stack, "worker")
        after = self.current_sets()
        kept = after.get("synthetic") == before.get("synthetic")
        refused = status in ("refused", "failed") and kept and expect in error.lower()
        rejected = status == "ready" and accepted == "0" and expect in reasons.lower()
        held = answer.status in (302, 200) and (refused or rejected) and worker_rss < 1500
        outcome = f"set refused: {error[:140]!r}" if refused else f"file rejected: {reasons[:140]!r}"
        self.record(
            name,
            held,
            f"upload answered {answer.status} in {answer.seconds:.2f} s (web worker peak RSS {rss_before:.0f} -> "
            f"{rss:.0f} MB); set {set_id} ended {status}, {outcome}; Celery pool peak RSS {worker_rss:.0f} MB; "
            f"previous synthetic set {'still current' if kept else 'replaced (by a set of 0 accepted files)'}",
        )

    def preamble(self) -> None:
        client = self.researcher()
        evil = b"<html><script>alert(1)</script></html>"
        answer = upload(
            client,
            self.project,
            "reference",
            [("evil.dcm", dicom_bytes(evil)), ("mz.dcm", dicom_bytes(b"MZ\x90\x00", 1))],
        )
        done = wait_for(lambda: self.newest_set()[1] in ("ready", "refused", "failed") and self.newest_set(), 120)
        stored = psql(
            "SELECT stored FROM audits_imagefile WHERE image_set_id = "
            f"{self.newest_set()[0]} AND stored <> '' ORDER BY name"
        ).splitlines()
        heads = [(self.stack.folder / "private" / name).read_bytes()[:132] for name in stored]
        zeroed = bool(heads) and all(head[:128] == bytes(128) and head[128:] == b"DICM" for head in heads)
        self.record(
            "DICOM preamble with HTML / MZ header",
            answer.status in (200, 302) and bool(done) and zeroed,
            f"{len(heads)} stored copies, preambles {'all zero' if zeroed else 'NOT zeroed'}",
        )

    # -- outages

    def broker_down_upload(self) -> None:
        client = self.researcher()
        self.stack.redis.cut()
        try:
            # The shared cache (throttle counters) is on the same Redis: signing in must still work.
            login = Client(self.stack, address="198.51.100.77").login("reviewer-tech")
            answer = upload(client, self.project, "synthetic", [(f"s{i}.dcm", dicom_bytes(seed=i)) for i in range(4)])
            set_id = self.newest_set()[0]
            files_before = len(list((self.stack.folder / "private").rglob("*")))
        finally:
            time.sleep(2)
            self.stack.redis.restore()
        done = wait_for(lambda: self.newest_set()[1] in ("ready", "refused", "failed") and self.newest_set(), 120)
        runs = wait_for(
            lambda: (
                psql(
                    "SELECT count(*) FROM audits_auditrun WHERE project_id = "
                    f"{self.project} AND status IN ('running', 'succeeded') AND created_at > now() - interval '5 minutes'"
                )
                != "0"
            ),
            180,
        )
        missing = [
            name
            for name in psql(
                f"SELECT stored FROM audits_imagefile WHERE image_set_id = {set_id} AND stored <> ''"
            ).split()
            if not (self.stack.folder / "private" / name).exists()
        ]
        held = (
            login.status == 302
            and answer.status in (200, 302)
            and bool(done)
            and done[1] == "ready"
            and bool(runs)
            and not missing
        )
        self.record(
            "broker cut during an upload",
            held,
            f"a sign-in answered {login.status} in {login.seconds:.2f} s; "
            f"upload answered {answer.status} in {answer.seconds:.2f} s ({files_before} private files then); "
            f"set {set_id} {done[1] if done else 'never ingested'}; an audit run started after the broker came "
            f"back: {bool(runs)}; stored files missing: {len(missing)}",
        )

    def database_down(self) -> None:
        client = self.researcher()
        self.stack.pg.cut()
        try:
            answers = [client.get(path) for path in ("/", f"/projects/{self.project}/", "/accounts/login/")]
        finally:
            self.stack.pg.restore()
        statuses = [a.status for a in answers]
        retry = all("Retry-After" in a.headers for a in answers if a.status == 503)
        self.record(
            "database unreachable",
            all(s == 503 for s in statuses) and retry,
            f"answers {statuses} in {max(a.seconds for a in answers):.2f} s at most; Retry-After: {retry}",
        )
        back = wait_for(lambda: client.get("/").status == 200, 30)
        self.record("database back", bool(back), "pages answer 200 again" if back else "still failing")

    # -- throttling

    def spray(self) -> None:
        statuses = []
        attacker = Client(self.stack, address="192.0.2.66")
        for index in range(40):
            answer = attacker.post("/accounts/login/", {"username": f"user{index}", "password": "Winter2026!"})
            statuses.append(answer.status)
        throttled = statuses.count(429)
        self.record("40 sprayed logins from one address", throttled >= 20, f"{throttled} of 40 answered 429")

    def rotating_spoof(self) -> None:
        statuses = []
        for index in range(30):
            attacker = Client(self.stack, address="192.0.2.67", spoof=f"10.9.{index}.1")
            statuses.append(
                attacker.post("/accounts/login/", {"username": f"guess{index}", "password": "wrong-password"}).status
            )
        throttled = statuses.count(429)
        self.record(
            "30 logins with a new forged X-Forwarded-For each",
            throttled >= 10,
            f"{throttled} of 30 answered 429 (the forged part is not the client address)",
        )

    def lockout_by_proxy(self) -> None:
        attacker = Client(self.stack, address="192.0.2.68")
        for _ in range(8):
            attacker.post("/accounts/login/", {"username": "reviewer-tech", "password": "wrong-password"})
        victim = Client(self.stack, address="198.51.100.200")
        answer = victim.login("reviewer-tech")
        self.record(
            "an attacker's failures lock out a named reviewer",
            answer.status == 302,
            f"the reviewer from her own address then signs in: answer {answer.status}",
        )

    def lockout_from_many(self) -> None:
        """Wrong passwords for one name from many addresses must not keep its owner out of her own browser."""
        victim = Client(self.stack, address="198.51.100.201")
        first = victim.login("reviewer-clin")
        victim.post("/accounts/logout/", {}, csrf_from="/")
        for index in range(40):
            attacker = Client(self.stack, address=f"192.0.2.{100 + index}")
            attacker.post("/accounts/login/", {"username": "reviewer-clin", "password": "wrong-password"})
        again = victim.login("reviewer-clin")
        self.record(
            "wrong passwords for a reviewer's name from 40 addresses",
            first.status == 302 and again.status == 302,
            f"the reviewer, who had signed in from this browser before, then signs in: answer {again.status}",
        )

    def registrations(self) -> None:
        statuses = []
        client = Client(self.stack, address="192.0.2.69")
        for index in range(12):
            name = f"burst{index}{secrets.token_hex(2)}"
            data = {
                "username": name,
                "full_name": "Burst Test",
                "email": f"{name}@example.org",
                "affiliation": "Nowhere",
                "password1": "a-Long-unusual-passphrase-42",
                "password2": "a-Long-unusual-passphrase-42",
            }
            client.cookies.clear()
            statuses.append(client.post("/accounts/register/", data).status)
        throttled = statuses.count(429)
        self.record("12 registrations in a row", throttled >= 5, f"answers {statuses}")
        can_upload = psql(
            "SELECT count(*) FROM reviews_project p JOIN reviews_user u ON u.id = p.owner_id WHERE u.username LIKE 'burst%'"
        )
        fresh = Client(self.stack, address="192.0.2.70")
        username = psql("SELECT username FROM reviews_user WHERE username LIKE 'burst%' ORDER BY id LIMIT 1")
        fresh.login(username, "a-Long-unusual-passphrase-42")
        answer = fresh.post(
            "/projects/new/",
            {"title": "Unverified", "summary": "x", "modality": "MRI", "synthesis_task": "x"},
            csrf_from="/projects/new/",
        )
        created = psql("SELECT count(*) FROM reviews_project WHERE title = 'Unverified'")
        self.record(
            "an unverified new account creates a project",
            answer.status in (302, 403) and created == "0" and can_upload == "0",
            f"answer {answer.status}; projects created by new accounts: {created}",
        )

    def uploads_burst(self) -> None:
        client = self.researcher()
        statuses = []
        runs_before = int(psql(f"SELECT count(*) FROM audits_auditrun WHERE project_id = {self.project}"))
        for index in range(25):
            statuses.append(
                upload(client, self.project, "holdout", [(f"h{index}.dcm", dicom_bytes(seed=index))]).status
            )
        time.sleep(3)
        runs = int(psql(f"SELECT count(*) FROM audits_auditrun WHERE project_id = {self.project}")) - runs_before
        throttled = statuses.count(429)
        self.record(
            "25 uploads in a row",
            throttled >= 1 and 500 not in statuses,
            f"{throttled} answered 429; {runs} audit runs recorded",
        )

    # -- trail and sessions

    def admin_edit(self) -> None:
        """A draft started from the admin's action, then one of its items edited in the admin."""
        admin = Client(self.stack, address="198.51.100.9")
        assert admin.login("admin").status == 302
        rows_before = int(psql("SELECT count(*) FROM reviews_activityentry"))
        published = psql("SELECT id FROM reviews_guidelineversion WHERE status = 'published' ORDER BY id LIMIT 1")
        admin.post(
            "/admin/reviews/guidelineversion/",
            {"action": "new_draft", "_selected_action": published, "index": "0"},
        )
        item = psql(
            "SELECT i.id FROM reviews_guidelineitem i JOIN reviews_stage s ON s.id = i.stage_id "
            "JOIN reviews_guidelineversion v ON v.id = s.version_id WHERE v.status = 'draft' ORDER BY i.id LIMIT 1"
        )
        if not item:
            self.record("an admin edit of a guideline item", False, "the admin's new_draft action made no draft")
            return
        path = f"/admin/reviews/guidelineitem/{item}/change/"
        page = admin.get(path)
        data = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.body))
        data.update(
            {k: v.strip() for k, v in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', page.body)}
        )
        for name, value in re.findall(
            r'<select[^>]*name="([^"]+)"[^>]*>.*?<option value="([^"]*)"[^>]*selected', page.body, re.S
        ):
            data[name] = value
        data["rationale"] = (data.get("rationale", "") + " Edited by the battery.").strip()
        data.pop("csrfmiddlewaretoken", None)
        answer = admin.post(path, data)
        rows_after = int(psql("SELECT count(*) FROM reviews_activityentry"))
        logged = psql(
            "SELECT count(*) FROM reviews_activityentry WHERE object_type = 'reviews.guidelineitem' "
            f"AND object_id = '{item}'"
        )
        verify = subprocess.run(
            [PY, "manage.py", "verify_log"], cwd=ROOT, env=self.stack.env, capture_output=True, text=True
        )
        self.record(
            "an admin edit of a guideline item",
            answer.status == 302 and int(logged) >= 1 and verify.returncode == 0,
            f"admin answered {answer.status}; activity rows {rows_before} -> {rows_after}, {logged} for item {item}; "
            f"verify_log exit {verify.returncode}: {(verify.stdout + verify.stderr).strip()[-100:]!r}",
        )

    def denial_logged(self) -> None:
        submitted = int(psql("SELECT id FROM reviews_project WHERE status <> 'draft' ORDER BY id LIMIT 1"))
        researcher = Client(self.stack, address="198.51.100.44")
        researcher.login("researcher")
        path = f"/projects/{submitted}/edit/"
        answer = researcher.get(path)
        time.sleep(0.5)
        log = self.stack.log("web")
        line = next((line for line in log.splitlines() if "researcher" in line and path in line), "")
        self.record(
            "a denied request is logged with user, address and URL",
            answer.status == 403 and "198.51.100.44" in line,
            f"the researcher editing her submitted project: answer {answer.status}; log line: {line[-220:]!r}",
        )

    def session_length(self) -> None:
        client = Client(self.stack, address="198.51.100.10")
        page = client.get("/accounts/login/")
        token = page.csrf()
        body = urlencode({"csrfmiddlewaretoken": token, "username": "researcher", "password": DEMO_PASSWORD}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.stack.port)
        headers = client._headers({"Content-Type": "application/x-www-form-urlencoded"})
        connection.request("POST", "/accounts/login/", body=body, headers=headers)
        answer = connection.getresponse()
        cookie = next((c for c in answer.headers.get_all("Set-Cookie") or [] if c.startswith("sessionid=")), "")
        match = re.search(r"Max-Age=(\d+)", cookie)
        age = int(match.group(1)) if match else None
        self.record(
            "session length",
            age is not None and age <= 12 * 3600,
            f"session cookie Max-Age {age} s" if age else f"no Max-Age in {cookie[:80]!r}",
        )

    def thresholds_out_of_range(self) -> None:
        client = self.researcher()
        path = f"/projects/{self.project}/audits/thresholds/"
        page = client.get(path)
        fields = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', page.body))
        numeric = [
            name
            for name, value in fields.items()
            if re.fullmatch(r"-?\d+(\.\d+)?", value) and name != "csrfmiddlewaretoken"
        ]
        if not numeric:
            self.record("thresholds form out of range", False, "no numeric field found on the page")
            return
        data = {**fields, numeric[0]: "-1e9"}
        answer = client.post(path, data)
        self.record(
            "thresholds form out of range",
            answer.status in (400, 200) and "error" in answer.body.lower(),
            f"{numeric[0]} = -1e9 answered {answer.status}",
        )

    def authorization(self) -> None:
        anonymous = Client(self.stack, address="198.51.100.11")
        private = anonymous.get(f"/projects/{self.project}/audits/")
        other = Client(self.stack, address="198.51.100.12")
        other.login("reviewer-tech")
        foreign = other.get(f"/projects/{self.project}/audits/upload/")
        no_csrf = self.researcher().request(
            "POST",
            f"/projects/{self.project}/audits/run/",
            body=b"",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.record(
            "anonymous, foreign and forged requests",
            private.status == 302 and foreign.status in (403, 404) and no_csrf.status == 403,
            f"anonymous {private.status}, another user's upload page {foreign.status}, POST without CSRF {no_csrf.status}",
        )

    def no_500(self) -> None:
        logs = self.stack.log("web")
        count = len(re.findall(r"\" 500 |Internal Server Error", logs))
        self.record("no 500 in the whole run", count == 0, f"{count} server errors in the web log")


ITEMS = [
    "authorization",
    "big_body_signed_in",
    "big_body_anonymous",
    "chunked_body",
    "zip_bomb",
    "lying_nifti",
    "preamble",
    "broker_down_upload",
    "database_down",
    "spray",
    "rotating_spoof",
    "lockout_by_proxy",
    "lockout_from_many",
    "registrations",
    "uploads_burst",
    "admin_edit",
    "denial_logged",
    "session_length",
    "thresholds_out_of_range",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-gib", type=float, default=3.0, help="size of the oversized bodies")
    parser.add_argument("--cap-mb", type=int, default=2048, help="IMAGE_UPLOAD_MAX_MB of the app under test")
    parser.add_argument("--only", nargs="*", choices=ITEMS, help="run only these items")
    parser.add_argument("--keep", action="store_true", help="leave the folder (logs, storage) behind")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="misyn-battery-"))
    stack = start_stack(folder, args.cap_mb)
    battery = Battery(stack, int(args.big_gib * 2**30))
    items: dict[str, Callable[[], None]] = {
        "authorization": battery.authorization,
        "big_body_signed_in": lambda: battery.big_body(signed_in=True),
        "big_body_anonymous": lambda: battery.big_body(signed_in=False),
        "chunked_body": battery.chunked_body,
        "zip_bomb": lambda: battery.ingest(
            "zip of 1,100 members just under 1 MiB", [("bomb.zip", zip_bomb())], "limit"
        ),
        "lying_nifti": lambda: battery.ingest(
            ".nii.gz declaring a 1 GiB volume", [("liar.nii.gz", lying_nifti())], "limit"
        ),
        "preamble": battery.preamble,
        "broker_down_upload": battery.broker_down_upload,
        "database_down": battery.database_down,
        "spray": battery.spray,
        "rotating_spoof": battery.rotating_spoof,
        "lockout_by_proxy": battery.lockout_by_proxy,
        "lockout_from_many": battery.lockout_from_many,
        "registrations": battery.registrations,
        "uploads_burst": battery.uploads_burst,
        "admin_edit": battery.admin_edit,
        "denial_logged": battery.denial_logged,
        "session_length": battery.session_length,
        "thresholds_out_of_range": battery.thresholds_out_of_range,
    }
    try:
        for name in args.only or ITEMS:
            try:
                items[name]()
            except Exception as exc:  # noqa: BLE001 (one item's crash is its failure, the rest still run)
                battery.record(name, False, f"the item crashed: {type(exc).__name__}: {exc}")
        battery.no_500()
    finally:
        stop_stack(stack)
        held = sum(outcome.held for outcome in battery.outcomes)
        print(
            f"\n{held} of {len(battery.outcomes)} held. Logs in {folder}"
            if args.keep
            else f"\n{held} of {len(battery.outcomes)} held."
        )
        (folder / "outcomes.json").write_text(json.dumps([outcome.__dict__ for outcome in battery.outcomes], indent=1))
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
