"""One audit run on a shared folder against one through an object store, two workers each.

    .venv/bin/python -m bench.storage                       # 500 + 500 images, 2 rounds, moto's S3 server
    .venv/bin/python -m bench.storage --n 2000 --endpoint http://127.0.0.1:9000 --bucket bench \\
        --access-key ... --secret-key ...                   # a real S3-compatible service (MinIO)

Needs PostgreSQL and Redis (the workers are separate processes): DATABASE_URL (a test database
is created beside it and dropped at the end) and REDIS_URL.

The same image sets (bench/data.py) are ingested twice in this process: once into a private
folder, once into the bucket. Then, alternately, two workers of one process each run a fresh
audit run of each project: "filesystem", both workers on the one folder (one host, or a shared
filesystem); "object store", each worker with its own empty PRIVATE_STORAGE_ROOT and a new,
empty PRIVATE_CACHE_DIR (two hosts sharing nothing but PostgreSQL, Redis and the bucket, their
caches cold: every image and artifact goes through the store). Each run is timed from its request
to its result; the load average is printed with each. On a shared machine the ratio of the runs
side by side is the figure to trust. moto's server is Python in this process, far slower than
MinIO or S3: with it the ratio is an upper bound of the object store's cost.

Nothing here is imported by the app or the tests.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.scaleout import ROOT, _load, _project, _setup, _stop, _timed_run


def _moto() -> tuple[str, Any]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return f"http://127.0.0.1:{port}", server


def _use_object_store(store: dict[str, str]) -> None:
    """This process's private storage becomes the bucket (as a web host started with `store` has it)."""
    from django.conf import settings
    from django.core.files.storage import storages
    from django.test import override_settings

    from audits.models import ImageFile
    from config.storage import bucket_ensure, private_storage_settings

    os.environ.update(store)
    private = private_storage_settings(root=Path(settings.PRIVATE_STORAGE_ROOT))
    override_settings(STORAGES={**settings.STORAGES, "default": private, "private": private}).enable()
    # A FileField resolved its storage once, at import: point it at the bucket too.
    ImageFile._meta.get_field("stored").storage = storages["private"]  # type: ignore[union-attr]
    bucket_ensure()


def _worker(env: dict[str, str], name: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "1", "--pool", "prefork",
         "-n", f"{name}-{os.getpid()}@%h", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _wait_answering(workers: list[subprocess.Popen[bytes]], names: list[str]) -> None:
    from config.celery import app

    deadline = time.monotonic() + 120
    seen: set[str] = set()
    while time.monotonic() < deadline:
        if any(worker.poll() is not None for worker in workers):
            raise RuntimeError("a worker exited; see its log")
        seen |= {node.split("-")[0] for reply in app.control.ping(timeout=1.0) for node in reply}
        if set(names) <= seen:
            time.sleep(2)  # every pool process forked
            return
    for worker in workers:
        os.killpg(worker.pid, signal.SIGKILL)
    raise RuntimeError(f"workers {names} did not all answer within 120 s: {seen}")


def _two_workers(env: dict[str, str], store: dict[str, str], folder: Path, tag: str) -> list[Any]:
    """Two workers of one process: on the one private folder, or (`store`) two hosts of their own."""
    workers = []
    for index in range(2):
        host = dict(env)
        if store:
            (folder / tag / f"host-{index}" / "private").mkdir(parents=True)
            (folder / tag / f"host-{index}" / "cache").mkdir()
            host.update(store, PRIVATE_STORAGE_ROOT=str(folder / tag / f"host-{index}" / "private"))
            host["PRIVATE_CACHE_DIR"] = str(folder / tag / f"host-{index}" / "cache")
        workers.append(_worker(host, f"h{index}", folder / f"worker-{tag}-{index}.log"))
    _wait_answering(workers, ["h0", "h1"])
    return workers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="synthetic and reference images each")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=100, help="AUDIT_CHUNK_FILES")
    parser.add_argument("--endpoint", help="an S3-compatible service; moto's server in this process when unset")
    parser.add_argument("--bucket", default=f"misyn-bench-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--access-key", default="bench")
    parser.add_argument("--secret-key", default="bench-secret")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        parser.error("set DATABASE_URL (PostgreSQL) and REDIS_URL: the workers are separate processes")
    folder = Path(tempfile.mkdtemp(prefix="misyn-bench-storage-"))
    os.environ.update({"PRIVATE_STORAGE_ROOT": str(folder / "shared"), "AUDIT_CHUNK_FILES": str(args.chunk)})
    endpoint, server = (args.endpoint, None) if args.endpoint else _moto()
    store = {
        "PRIVATE_STORAGE_BACKEND": "s3",
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_STORAGE_BUCKET_NAME": args.bucket,
        "AWS_ACCESS_KEY_ID": args.access_key,
        "AWS_SECRET_ACCESS_KEY": args.secret_key,
        "AWS_S3_REGION_NAME": "us-east-1",
    }
    _setup(f"bench-storage-{os.getpid()}")
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = {**os.environ, "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}"}
    server_name = "moto (in this process)" if server else endpoint
    print(f"bench.storage: load average {_load()} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC')}")
    print(
        f"{args.n:,} + {args.n:,} images, AUDIT_CHUNK_FILES {args.chunk}, two workers of one process; S3: {server_name}"
    )
    try:
        on_disk = _project(args.n)
        _use_object_store(store)
        in_store = _project(args.n)
        print(f"{'storage':>12} {'round':>5} {'total s':>8} {'read s':>7} {'search s':>8} {'merge s':>7}  load average")
        totals: dict[str, list[float]] = {"filesystem": [], "object store": []}
        for round_ in range(args.repeats):
            for kind, project, extra in (("filesystem", on_disk, {}), ("object store", in_store, store)):
                workers = _two_workers(env, extra, folder, f"{kind[:4]}-{round_}")
                try:
                    load = _load()
                    row = _timed_run(project, f"{kind[:4]}-{round_}")
                finally:
                    for worker in workers:
                        _stop(worker)
                totals[kind].append(row["seconds"])
                print(f"{kind:>12} {round_:>5} {row['seconds']:8.1f} {row['read']:7.1f} {row['search']:8.1f} "
                      f"{row['merge']:7.1f}  {load} -> {_load()}")  # fmt: skip
        ratios = [s3 / fs for fs, s3 in zip(totals["filesystem"], totals["object store"], strict=True)]
        print(f"object store / filesystem, per round: {', '.join(f'{r:.2f}x' for r in ratios)}")
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
