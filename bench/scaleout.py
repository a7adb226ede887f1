"""One audit run through real Celery workers: 1 against 2 worker processes, and the merge's memory.

    .venv/bin/python -m bench.scaleout                      # 2,000 + 2,000 images, 1 process against 2, one round
    .venv/bin/python -m bench.scaleout --skip-speed --memory 5000,10000    # the merge's memory alone

Needs PostgreSQL and Redis (the workers are separate processes): DATABASE_URL (a test database
is created beside it and dropped at the end) and REDIS_URL; private files in a temporary folder.

Speed: the sets of bench/data.py (N synthetic, N real; 128 x 128 files, about 1 % planted
copies) are uploaded once; then, alternately, a worker with 1 and with 2 prefork processes
is started, one run is requested and timed from the request to its result (the read chunks,
the copy search's blocks and the merge are timed from the chunk rows). The load average is
printed with each run: on a shared machine the ratio of runs side by side is what to trust.

Merge memory (`--memory`, off unless sizes are given): at two sizes the read and search chunks
are computed in this process, then the merge (`runs.run_merge`) runs alone in a child process; its
peak RSS (VmHWM) above the RSS after Django and the engine are imported, and the cost per image
between the two sizes. The copy search of these runs has its transform search switched off
(`search_transforms`, unless `--memory-transforms`): 42 ms per query image and 2.6 ms per reference
image per block, over half an hour of CPU at 10,000 + 10,000; it changes only what the merge reads
per image of the scores (a few numbers).

Nothing here is imported by the app or the tests.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "var" / "bench-scaleout"


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _data(n: int) -> dict[str, Any]:
    from bench.data import build

    folder = DATA / f"n{n}"
    marker = folder / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    built = build(folder, n, n)
    info = {"real": str(built["real"]), "synthetic": str(built["synthetic"]), "planted": built["planted"]}
    marker.write_text(json.dumps(info))
    return info


def _zip(folder: str, name: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(Path(folder).iterdir()):
            archive.write(path, path.name)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def _project(n: int) -> Any:
    """A project with the two sets of size n, ingested in this process; no run left queued."""
    from audits.enums import RunStatus, SetRole
    from audits.models import AuditRun
    from audits.services.ingest import image_set_ingest
    from audits.services.uploads import image_set_upload
    from reviews.services.catalogue import catalogue_load
    from tests.factories import ProjectFactory, ResearcherFactory

    data = _data(n)
    version, _ = catalogue_load()
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner, guideline_version=version)
    for role, folder in ((SetRole.REFERENCE, data["real"]), (SetRole.SYNTHETIC, data["synthetic"])):
        staged = image_set_upload(actor=owner, project=project, role=role, files=[_zip(folder, f"{role}.zip")])
        image_set_ingest(image_set_id=staged.pk)
    AuditRun.objects.filter(project=project).exclude(status=RunStatus.SUCCEEDED).update(status=RunStatus.CANCELLED)
    return project


def _worker(env: dict[str, str], processes: int, log: Path) -> subprocess.Popen[bytes]:
    from config.celery import app

    worker = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", str(processes), "--pool", "prefork",
         "-n", f"bench{processes}-{os.getpid()}@%h", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited: {log.read_text()[-2000:]}")
        if app.control.ping(timeout=1.0):
            time.sleep(2)  # every pool process forked
            return worker
    raise RuntimeError("the worker did not answer within 120 s")


def _stop(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def _timed_run(project: Any, tag: str) -> dict[str, Any]:
    """Request a fresh run (earlier ones no longer match its inputs) and wait for its result."""
    from django.db.models import Max

    from audits.enums import ChunkKind, RunStatus
    from audits.models import AuditRun
    from audits.services.runs import audit_run_request

    AuditRun.objects.filter(project=project).update(input_digest=f"bench-{tag}")
    started = time.perf_counter()
    run = audit_run_request(project=project, actor=None, reason="bench")
    while True:
        run.refresh_from_db()
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if run.status != RunStatus.SUCCEEDED:
        raise RuntimeError(f"run failed: {run.error}")
    ends = {
        kind: run.chunks.filter(kind=kind).aggregate(end=Max("finished_at"))["end"]
        for kind in (ChunkKind.READ, ChunkKind.SEARCH)
    }
    if not (run.started_at and run.finished_at and ends[ChunkKind.READ] and ends[ChunkKind.SEARCH]):
        raise RuntimeError(f"run {run.pk} has no read or search chunks: {ends}")
    memorization = run.results["memorization"]
    return {
        "seconds": seconds,
        "read": (ends[ChunkKind.READ] - run.started_at).total_seconds(),
        "search": (ends[ChunkKind.SEARCH] - ends[ChunkKind.READ]).total_seconds(),
        "merge": (run.finished_at - ends[ChunkKind.SEARCH]).total_seconds(),
        "chunks": run.chunks.count(),
        "copies": memorization["metrics"]["n_probable_copies"],
        "status": memorization["status"],
    }


def speed(args: argparse.Namespace, env: dict[str, str], logs: Path) -> None:
    project = _project(args.n)
    print(f"\n1 against 2 worker processes, {args.n:,} + {args.n:,} images (AUDIT_CHUNK_FILES {args.chunk})")
    print(f"{'workers':>7} {'round':>5} {'total s':>8} {'read s':>7} {'search s':>8} {'merge s':>7} "
          f"{'chunks':>6} {'copies':>6}  load average")  # fmt: skip
    totals: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(args.repeats):
        for processes in (1, 2):
            worker = _worker(env, processes, logs / f"worker-{processes}-{round_}.log")
            try:
                load = _load()
                row = _timed_run(project, f"{processes}-{round_}")
            finally:
                _stop(worker)
            totals[processes].append(row["seconds"])
            print(f"{processes:>7} {round_:>5} {row['seconds']:8.1f} {row['read']:7.1f} {row['search']:8.1f} "
                  f"{row['merge']:7.1f} {row['chunks']:>6} {row['copies']:>6}  {load} -> {_load()}")  # fmt: skip
    ratios = [one / two for one, two in zip(totals[1], totals[2], strict=True)]
    print(f"speed-up of 2 processes over 1, per round: {', '.join(f'{r:.2f}x' for r in ratios)}")


def _computed_run(project: Any, transforms: bool) -> Any:
    """A run whose read and search chunks are done in this process (no worker): the merge's inputs."""
    from audits.engine.preprocess import Preprocessing
    from audits.enums import ChunkKind
    from audits.models import AuditChunk, AuditRun
    from audits.services import runs

    run = runs.audit_run_request(project=project, actor=None, reason="bench")
    run = runs.run_claim(run_id=run.pk)
    if not transforms:
        run.params["audits"] = {**run.params.get("audits", {})}
        run.params["audits"]["memorization"] = {
            **run.params["audits"].get("memorization", {}),
            "search_transforms": False,
        }
        AuditRun.objects.filter(pk=run.pk).update(params=run.params)
    runs.run_plan_chunks(run=run)
    params = Preprocessing(**run.params.get("preprocess", {}))
    for chunk in AuditChunk.objects.filter(run=run, kind=ChunkKind.READ).order_by("index"):
        runs.chunk_complete(run=run, index=chunk.index, artifact=runs.chunk_compute(chunk=chunk, params=params))
    runs.run_plan_search(run=run)
    for chunk in AuditChunk.objects.filter(run=run, kind=ChunkKind.SEARCH).order_by("index"):
        runs.chunk_complete(run=run, index=chunk.index, artifact=runs.search_compute(chunk=chunk, run=run))
    return run


def memory(args: argparse.Namespace, env: dict[str, str]) -> None:
    sizes = [int(size) for size in args.memory.split(",")]
    print("\nMerge peak memory (a child process runs runs.run_merge alone)")
    print(f"{'images':>13} {'peak RSS MiB':>12} {'above start MiB':>15} {'merge s':>7}  load average")
    rows = []
    for size in sizes:
        run = _computed_run(_project(size), args.memory_transforms)
        out = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "bench.scaleout", "--merge-child", str(run.pk)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((2 * size, row))
        print(f"{size:>6,} + {size:<6,} {row['peak']:12.1f} {row['above']:15.1f} {row['seconds']:7.1f}  {_load()}")
    if len(rows) >= 2:
        (n1, a), (n2, b) = rows[0], rows[-1]
        per_image = (b["above"] - a["above"]) / (n2 - n1) * 1024
        at_40k = b["peak"] + per_image * (40_000 - n2) / 1024
        print(f"per image: {per_image:.1f} KiB; extrapolated peak at 20,000 + 20,000: {at_40k:.0f} MiB")


def merge_child(run_id: int) -> None:
    # every module the merge uses, imported before the start figure (a worker has them after its first run)
    import scipy.linalg
    import scipy.stats  # noqa: F401

    from audits.engine import disclosure, fidelity, manifest, memorization, privacy, representation, suite  # noqa: F401
    from audits.models import AuditRun
    from audits.services import runs

    run = AuditRun.objects.select_related("project").get(pk=run_id)
    start = _status_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    began = time.perf_counter()
    runs.run_merge(run=run)
    seconds = time.perf_counter() - began
    peak = _status_mib("VmHWM")
    print(json.dumps({"peak": peak, "above": peak - start, "seconds": seconds}))


def _setup(run_tag: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["MISYN_TEST_RUN"] = run_tag
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="synthetic and reference images each")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=250, help="AUDIT_CHUNK_FILES")
    parser.add_argument("--memory", default="", help="sizes for the merge's memory, comma-separated (none: skipped)")
    parser.add_argument("--memory-transforms", action="store_true", help="the transform search on in --memory runs")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--merge-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.merge_child:
        _setup(os.environ["MISYN_TEST_RUN"])
        merge_child(args.merge_child)
        return
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        parser.error("set DATABASE_URL (PostgreSQL) and REDIS_URL: the workers are separate processes")
    storage = tempfile.mkdtemp(prefix="misyn-bench-scaleout-")
    os.environ.update({"PRIVATE_STORAGE_ROOT": storage, "AUDIT_CHUNK_FILES": str(args.chunk)})
    _setup(f"bench-scaleout-{os.getpid()}")
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = {**os.environ, "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}"}
    print(f"bench.scaleout: load average {_load()} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC')}")
    try:
        if not args.skip_speed:
            speed(args, env, Path(storage))
        if args.memory:
            memory(args, env)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
