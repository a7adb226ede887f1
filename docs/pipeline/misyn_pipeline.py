#!/usr/bin/env python3
"""Upload a synthetic (or reference, or held-out) image set to MISyn Review, wait for the
audits, and fail the build when one fails. Standard library only; see README.md beside it.

    MISYN_TOKEN=msr_… python misyn_pipeline.py --url https://review.example.org \
        --project 12 --role synthetic synthetic.zip

Exit status: 0 when no audit fails (or, for a reference or held-out set uploaded before the
synthetic one, when the set is ready: the audits run once the synthetic set arrives), 1 when
one fails or the set is refused, 2 on a usage or HTTP error (with the server's message).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

RETRIES = 5  # per file: failed chunks are resent from where the server says it stands


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.token = token

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data, sent = body, {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        if body is not None and not isinstance(body, bytes):
            data, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        for _attempt in range(RETRIES):
            # http(s) only: main() refuses any other scheme.
            request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 (see above)
                    text = response.read()
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as error:
                if error.code == 429:  # throttled: wait as told, then again
                    time.sleep(float(error.headers.get("Retry-After") or 5))
                    continue
                raise ApiError(error.code, _message(error.read())) from None
            except (urllib.error.URLError, OSError) as error:
                raise ApiError(0, f"{method} {path}: {getattr(error, 'reason', error)}") from None
        raise ApiError(429, "still throttled after several waits")


def _message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:300]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def upload_file(api: Api, project: int, path: Path, chunk_bytes: int) -> str:
    """Send one file in chunks; after a failed chunk, ask the server for its offset and go on."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1024 * 1024):
            digest.update(block)
    opened = api.call(
        "POST", f"/projects/{project}/uploads/", {"filename": path.name, "size": size, "sha256": digest.hexdigest()}
    )
    url = f"/projects/{project}/uploads/{opened['id']}/"
    chunk_bytes, offset, failures = min(chunk_bytes, opened["chunk_max_bytes"]), 0, 0
    with path.open("rb") as source:
        while offset < size:
            source.seek(offset)
            chunk = source.read(chunk_bytes)
            content_range = f"bytes {offset}-{offset + len(chunk) - 1}/{size}"
            try:
                offset = api.call(
                    "PUT", url, chunk, {"Content-Type": "application/octet-stream", "Content-Range": content_range}
                )["offset"]
            except ApiError as error:
                failures += 1
                if failures > RETRIES or error.status not in (0, 409, 422, 500, 502, 503, 504):
                    raise
                print(f"  {path.name}: {error}; resuming", file=sys.stderr)
                offset = api.call("GET", url)["offset"]
    print(f"uploaded {path.name} ({size} bytes)")
    return str(opened["id"])


def wait(api: Api, path: str, busy: set[str], poll: float, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while (state := api.call("GET", path))["status"] in busy:
        if time.monotonic() > deadline:
            raise ApiError(0, f"gave up waiting after {timeout:.0f} s (still {state['status']})")
        time.sleep(poll)
    return state


def run(args: argparse.Namespace) -> int:
    api, project = Api(args.url, args.token), args.project
    uploads = [upload_file(api, project, Path(name), args.chunk_mb * 1024 * 1024) for name in args.files]
    created = api.call("POST", f"/projects/{project}/image-sets/", {"role": args.role, "uploads": uploads})
    image_set = wait(api, f"/projects/{project}/image-sets/{created['id']}/", {"ingesting"}, args.poll, args.timeout)
    print(
        f"image set {image_set['id']}: {image_set['status']}, {image_set['n_accepted']} accepted, "
        f"{image_set['n_rejected']} rejected {image_set['message']}".rstrip()
    )
    for rejected in image_set["rejected_files"]:
        print(f"  rejected {rejected['name']}: {rejected['reason']}")
    if image_set["status"] != "ready":
        return 1
    try:
        requested = api.call("POST", f"/projects/{project}/audit-runs/", {"reason": args.reason})
    except ApiError as error:
        # Every audit examines the synthetic set: a reference or held-out set uploaded first
        # is kept, and the audits run once the synthetic set arrives.
        if error.status == 409 and args.role != "synthetic":
            print(f"no audit run yet: {error}")
            return 0
        raise
    audit_run = wait(
        api, f"/projects/{project}/audit-runs/{requested['id']}/", {"queued", "running"}, args.poll, args.timeout
    )
    if audit_run["status"] != "succeeded":
        raise ApiError(0, f"audit run {audit_run['number']} {audit_run['status']}: {audit_run['error']}")
    for audit in audit_run["audits"]:
        print(f"{audit['audit']:<15} {audit['status'] or '-':<15} {audit['summary']}")
    return 1 if any(audit["status"] == "fail" for audit in audit_run["audits"]) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the site, e.g. https://review.example.org")
    parser.add_argument("--token", default=os.environ.get("MISYN_TOKEN"), help="a read-and-write token ($MISYN_TOKEN)")
    parser.add_argument("--project", type=int, required=True, help="the project's id")
    parser.add_argument("--role", choices=["synthetic", "reference", "holdout"], default="synthetic")
    parser.add_argument("--reason", default="pipeline", help="why the run was asked for (its history shows it)")
    parser.add_argument("--chunk-mb", type=int, default=16, help="chunk size in MB (the server may lower it)")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between status checks")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the ingest, then the run")
    parser.add_argument("files", nargs="+", help="images or archives (zip, tar) of them")
    args = parser.parse_args(argv)
    if not args.url.startswith(("https://", "http://")):
        parser.error("--url must start with https:// (or http:// for a local test server)")
    if not args.token:
        parser.error("give --token or set MISYN_TOKEN")
    missing = [name for name in args.files if not Path(name).is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    try:
        return run(args)
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
