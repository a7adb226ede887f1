"""Benchmark the audit suite on generated image files; write bench/results.md.

    .venv/bin/python -m bench.run                       # N = M = 1000 and 5000, chunks 100/250/500
    .venv/bin/python -m bench.run --sizes 1000 --out /tmp/results.md

For each size the data (bench/data.py) is generated under a temporary folder, which is
removed afterwards, and each measurement runs in a fresh child process, so its peak RSS
(`resource.getrusage(...).ru_maxrss`) is its own:

- floor: reading and decoding every file (pydicom / Pillow, nothing else), plus one blocked
  float32 matrix product S·Rᵀ over the two sets at the size the engine compares them
  (64 x 64 = 4096 values per image, 2048 synthetic rows per block), i.e. the least any
  audit of copies must do;
- suite: the engine's readers (validate, decode, preprocess, hash) and `run_suite` with
  metadata and manifest, with each audit's own time;
- chunk: what one chunk task of the worker does (`audits.services.runs.chunk_compute`
  without Django and storage): `readers.read_file`, `features.extract_many` and the fidelity
  summary (`fidelity.chunk_summary`) over the first C reference files, the arrays packed as
  the artifact; peak RSS against the RSS
  after imports, and the tracemalloc peak of a second pass.

Every child runs under `threadpoolctl.threadpool_limits(1)`, one BLAS thread as the worker
uses. OPENBLAS_CORETYPE is left as the environment has it. Each step reports wall seconds and
CPU seconds (`time.process_time()` of its one thread): on a shared machine the wall clock
grows with the load, the CPU time much less, so the "x floor" ratios are given in both.

`--baseline PATH` runs the suite child a second time per size with the engine imported from
another checkout of the project (say `git worktree add /tmp/base <commit>`), interleaved with
the current one on the same files (baseline, current, baseline, current with `--repeat 2`),
and adds a before/after table: ratios measured side by side under the same load.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
AUDITS = ("disclosure", "privacy", "memorization", "fidelity", "representation", "manifest")
COMPARE_SIZE = 64
GEMM_BLOCK = 2048


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _status_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since start or the last reset) from /proc/self/status, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0), so VmHWM is the peak of what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.is_file())


def _blas() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info()]


# --------------------------------------------------------------------------- children


def child_floor(data: Path) -> dict[str, Any]:
    """Decode every file, then one blocked GEMM of the synthetic against the real images."""
    import pydicom
    from PIL import Image

    def decode(path: Path) -> np.ndarray:
        if path.suffix == ".dcm":
            return pydicom.dcmread(path).pixel_array
        with Image.open(path) as image:
            return np.asarray(image)

    started, cpu = time.perf_counter(), time.process_time()
    synthetic = [decode(path) for path in _files(data / "synthetic")]
    real = [decode(path) for path in _files(data / "real")]
    decode_seconds, decode_cpu = time.perf_counter() - started, time.process_time() - cpu

    def matrix(images: list[np.ndarray]) -> np.ndarray:
        stack = np.stack(images).astype(np.float32)
        factor = stack.shape[1] // COMPARE_SIZE
        pooled = stack.reshape(len(images), COMPARE_SIZE, factor, COMPARE_SIZE, factor).mean(axis=(2, 4))
        return np.ascontiguousarray(pooled.reshape(len(images), -1))

    s, r = matrix(synthetic), matrix(real)
    started, cpu = time.perf_counter(), time.process_time()
    best = np.empty(len(s), np.float32)
    for start in range(0, len(s), GEMM_BLOCK):
        best[start : start + GEMM_BLOCK] = (s[start : start + GEMM_BLOCK] @ r.T).max(axis=1)
    gemm_seconds, gemm_cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "decode_seconds": decode_seconds,
        "decode_cpu": decode_cpu,
        "gemm_seconds": gemm_seconds,
        "gemm_cpu": gemm_cpu,
        "gemm_gflop": 2 * s.shape[0] * r.shape[0] * s.shape[1] / 1e9,
        "peak_rss_mib": _peak_rss_mib(),
        "blas": _blas(),
    }


def child_suite(data: Path) -> dict[str, Any]:
    """The engine's readers and the whole suite, as `manage.py audit` runs them."""
    from audits.engine.inputs import metadata_from_headers, parse_manifest, parse_metadata_csv
    from audits.engine.preprocess import Preprocessing
    from audits.engine.readers import read_folder
    from audits.engine.suite import run_suite

    info = json.loads((data / "info.json").read_text())
    params = Preprocessing(size=COMPARE_SIZE)
    started, cpu = time.perf_counter(), time.process_time()
    synthetic = read_folder(data / "synthetic", "synthetic", params)
    reference = read_folder(data / "real", "reference", params)
    read_seconds, read_cpu = time.perf_counter() - started, time.process_time() - cpu
    for image_set, csv_name in ((synthetic, "synthetic-metadata.csv"), (reference, "real-metadata.csv")):
        image_set.metadata, _warnings = parse_metadata_csv((data / csv_name).read_text())
        image_set.metadata = metadata_from_headers(image_set)
    manifest = parse_manifest((data / "manifest.csv").read_text(), "manifest.csv")

    audit_cpu: dict[str, float] = {}
    current: list[Any] = [None, 0.0]  # the audit running and the CPU time it started at

    def progress(name: str, _position: int) -> None:
        # run_suite announces each audit as it starts it: the CPU time since the last call is the previous one's.
        now = time.process_time()
        if current[0] is not None:
            audit_cpu[current[0]] = now - current[1]
        current[:] = [name, now]

    started, cpu = time.perf_counter(), time.process_time()
    results = run_suite(synthetic=synthetic, reference=reference, manifest=manifest, progress=progress)
    suite_seconds, suite_cpu = time.perf_counter() - started, time.process_time() - cpu
    if current[0] is not None:
        audit_cpu[current[0]] = time.process_time() - current[1]
    memorization = results["memorization"]
    flagged = {item["synthetic_file"] for item in memorization.flagged if item.get("kind") != "near_copy"}
    return {
        "read_seconds": read_seconds,
        "read_cpu": read_cpu,
        "suite_seconds": suite_seconds,
        "suite_cpu": suite_cpu,
        "audit_seconds": {name: float(results[name].timings.get("total", 0.0)) for name in AUDITS},
        "audit_cpu": {name: audit_cpu.get(name) for name in AUDITS},
        "fidelity_steps": {k: float(v) for k, v in results["fidelity"].timings.items() if k != "total"},
        "fidelity_metrics": {
            k: results["fidelity"].metrics.get(k) for k in ("w1_hist", "ks_D", "fd", "kid_mean", "coverage")
        },
        "statuses": {name: str(results[name].status) for name in AUDITS},
        "n_images": len(synthetic.images) + len(reference.images),
        "planted": len(info["planted"]),
        "planted_found": len(flagged & set(info["planted"])),
        "n_probable_copies": memorization.metrics.get("n_probable_copies"),
        "peak_rss_mib": _peak_rss_mib(),
        "blas": _blas(),
    }


def _chunk_task(paths: list[Path]) -> int:
    """What runs.chunk_compute does, minus Django: read, preprocess, features, pack the artifact."""
    from audits.engine import features as feature_set
    from audits.engine.preprocess import Preprocessing
    from audits.engine.readers import read_file

    params = Preprocessing(size=COMPARE_SIZE)
    pixels, digests, blanks = [], [], []
    images_read = []
    for path in paths:
        _record, images = read_file(path, path.name, params)
        images_read += images
        for image in images:
            pixels.append(image.pixels)
            digests.append(image.pixel_sha256)
            blanks.append(image.blank)
    usable = [p for p, blank in zip(pixels, blanks, strict=True) if not blank]
    feats = feature_set.extract_many(usable)
    arrays: dict[str, Any] = {"pixels": np.stack(pixels), "digests": np.array(digests, dtype="U64"), "features": feats}
    try:  # the fidelity summary the merge uses instead of the pixels (an older engine has none)
        from audits.engine.fidelity import chunk_summary
    except ImportError:
        chunk_summary = None
    if chunk_summary is not None:
        arrays |= {f"fidelity_{key}": value for key, value in chunk_summary(images_read).items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return len(buffer.getvalue())


def child_chunk(data: Path, chunk_size: int) -> dict[str, Any]:
    import tracemalloc

    paths = _files(data / "real")[:chunk_size]
    _chunk_task(paths[:2])  # warm up: lazy imports (pydicom handlers, scikit-image) happen here
    after_imports = _status_mib("VmRSS")
    if not _reset_peak_rss():
        raise RuntimeError("cannot reset the RSS high-water mark (/proc/self/clear_refs)")
    started = time.perf_counter()
    artifact_bytes = _chunk_task(paths)
    seconds = time.perf_counter() - started
    peak = _status_mib("VmHWM")
    tracemalloc.start()
    _chunk_task(paths)
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "chunk_size": len(paths),
        "seconds": seconds,
        "rss_after_imports_mib": after_imports,
        "peak_rss_mib": peak,
        "traced_peak_mib": traced_peak / 2**20,
        "artifact_mib": artifact_bytes / 2**20,
    }


def _child_main(args: argparse.Namespace) -> None:
    # threadpool_limits reaches only the BLAS libraries already loaded: numpy's, and scipy's own
    # OpenBLAS, which the engine would load lazily later, so scipy is imported first.
    import scipy.linalg  # noqa: F401 (loads scipy's BLAS before the limit)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        if args.child == "floor":
            result = child_floor(args.data)
        elif args.child == "suite":
            result = child_suite(args.data)
        else:
            result = child_chunk(args.data, args.chunk_size)
    print(json.dumps(result))


# --------------------------------------------------------------------------- parent


def _run_child(kind: str, data: Path, *extra: str, engine: Path = ROOT) -> dict[str, Any]:
    """One measurement in a fresh process; `engine` is the checkout whose `audits` package it imports."""
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--child", kind, "--data", str(data), *extra]
    environment = {**os.environ, "PYTHONPATH": str(engine)}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        command, cwd=engine, env=environment, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total_kib = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model or platform.processor(),
        "avx512f": "avx512f" in flags,
        "memory_gib": round(total_kib / 2**20, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(not set)"),
        "load_average": os.getloadavg(),
    }


def _row(name: str, seconds: float, images: int, floor: float, cpu: float | None = None, floor_cpu: float = 0.0) -> str:
    cpu_cells = f"{cpu:.2f} | {cpu / floor_cpu:.2f}" if cpu is not None and floor_cpu > 0 else "— | —"
    return f"| {name} | {seconds:.2f} | {images / seconds:,.0f} | {seconds / floor:.2f} | {cpu_cells} |"


def size_table(n: int, generated: float, floor: dict[str, Any], suite: dict[str, Any]) -> list[str]:
    images = 2 * n
    floor_seconds = floor["decode_seconds"] + floor["gemm_seconds"]
    floor_cpu = floor["decode_cpu"] + floor["gemm_cpu"]
    gemm_rate = floor["gemm_gflop"] / floor["gemm_seconds"]
    whole = suite["read_seconds"] + suite["suite_seconds"]
    whole_cpu = suite["read_cpu"] + suite["suite_cpu"]

    def row(name: str, seconds: float, cpu: float | None) -> str:
        return _row(name, seconds, images, floor_seconds, cpu, floor_cpu)

    steps = ", ".join(f"{k} {v:.2f}" for k, v in suite["fidelity_steps"].items())
    lines = [
        f"### N = M = {n:,} (128 x 128 files, compared at {COMPARE_SIZE} x {COMPARE_SIZE})",
        "",
        f"Data generated in {generated:.1f} s. Images per second = (N + M) / seconds; "
        "x floor = seconds / floor seconds (wall), CPU x floor = CPU seconds / floor CPU seconds.",
        "",
        "| step | seconds | images/s | x floor | CPU seconds | CPU x floor |",
        "|---|---|---|---|---|---|",
        row("floor: read and decode the files", floor["decode_seconds"], floor["decode_cpu"]),
        row(f"floor: blocked GEMM S·Rᵀ ({gemm_rate:.0f} GFLOP/s)", floor["gemm_seconds"], floor["gemm_cpu"]),
        row("**floor total**", floor_seconds, floor_cpu),
        row("read, validate, preprocess (engine readers)", suite["read_seconds"], suite["read_cpu"]),
    ]
    lines += [row(f"audit: {name}", suite["audit_seconds"][name], suite["audit_cpu"].get(name)) for name in AUDITS]
    lines += [
        row("all six audits (`run_suite`)", suite["suite_seconds"], suite["suite_cpu"]),
        row("**whole suite (read + audits)**", whole, whole_cpu),
        "",
        f"Fidelity steps (wall seconds): {steps}. "
        f"Peak RSS: floor process {floor['peak_rss_mib']:,.0f} MiB, suite process {suite['peak_rss_mib']:,.0f} MiB. "
        f"Statuses: {', '.join(f'{k} {v}' for k, v in suite['statuses'].items())}. "
        f"Memorization found {suite['planted_found']} of {suite['planted']} planted copies "
        f"({suite['n_probable_copies']} probable copies in all).",
        "",
    ]
    return lines


def compare_table(n: int, floor: dict[str, Any], runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Baseline and current suite children of one size, run alternately: CPU seconds and their ratio to the floor."""
    floor_cpu = floor["decode_cpu"] + floor["gemm_cpu"]
    lines = [
        f"### Before and after, N = M = {n:,}: children run alternately on the same files",
        "",
        "CPU seconds (x floor CPU). Fidelity's feature step in wall seconds. "
        "Load average when the table was made: " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + ".",
        "",
        "| run | readers | memorization | fidelity | (fidelity features, wall s) | all audits | whole suite |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, suite in runs:

        def cell(cpu: float | None) -> str:
            return "—" if cpu is None else f"{cpu:.2f} ({cpu / floor_cpu:.2f}x)"

        fid_cpu = suite["audit_cpu"].get("fidelity")
        mem_cpu = suite["audit_cpu"].get("memorization")
        lines.append(
            f"| {label} | {cell(suite['read_cpu'])} | {cell(mem_cpu)} | {cell(fid_cpu)} "
            f"| {suite['fidelity_steps'].get('features', float('nan')):.2f} | {cell(suite['suite_cpu'])} "
            f"| {cell(suite['read_cpu'] + suite['suite_cpu'])} |"
        )
    return [*lines, ""]


def chunk_table(n: int, chunks: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"### Chunk tasks (first C real DICOM files of the {n:,}-file set)",
        "",
        "| chunk size C | seconds | files/s | RSS after imports | peak RSS | peak - imports | per file "
        "| tracemalloc peak | artifact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in chunks:
        grown = c["peak_rss_mib"] - c["rss_after_imports_mib"]
        lines.append(
            f"| {c['chunk_size']} | {c['seconds']:.2f} | {c['chunk_size'] / c['seconds']:,.0f} "
            f"| {c['rss_after_imports_mib']:.0f} MiB | {c['peak_rss_mib']:.0f} MiB | {grown:.1f} MiB "
            f"| {1024 * grown / c['chunk_size']:.0f} KiB | {c['traced_peak_mib']:.1f} MiB "
            f"| {c['artifact_mib']:.1f} MiB |"
        )
    return [*lines, ""]


def header(info: dict[str, Any], blas: list[dict[str, Any]], command: str, start_load: tuple[float, ...]) -> list[str]:
    pools = "; ".join(
        f"{p['internal_api']} {p['version']} ({p['architecture']}, {p['threading_layer']}), "
        f"{p['num_threads']} thread(s) in the benchmark"
        for p in blas
    )
    return [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} with `{command}`.",
        "",
        f"- Machine: {info['nproc']} cores (nproc), {info['cpu_model']}"
        f"{', AVX-512' if info['avx512f'] else ''}, {info['memory_gib']} GiB memory.",
        f"- Python {info['python']}, numpy {info['numpy']}; BLAS (threadpoolctl): {pools}.",
        f"- OPENBLAS_CORETYPE: {info['openblas_coretype']} (left as it was).",
        f"- Load average at the start: {' '.join(f'{v:.2f}' for v in start_load)}; at the end: "
        f"{' '.join(f'{v:.2f}' for v in info['load_average'])} (other processes on the machine slow every row alike).",
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000], help="N = M per run")
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[100, 250, 500])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout whose engine runs alternately with this one (before/after)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="baseline/current pairs per size with --baseline")
    parser.add_argument("--chunks-only", action="store_true", help="measure only the chunk tasks (no floor, no suite)")
    parser.add_argument("--child", choices=["floor", "suite", "chunk"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--chunk-size", type=int, default=250, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child_main(args)
        return

    from bench import data as bench_data

    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    start_load = os.getloadavg()
    sections: list[str] = []
    blas: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="misyn-bench-") as workdir:
        for n in args.sizes:
            folder = Path(workdir) / f"n{n}"
            started = time.perf_counter()
            built = bench_data.build(folder, n_synthetic=n, n_real=n)
            generated = time.perf_counter() - started
            (folder / "info.json").write_text(json.dumps({"planted": built["planted"]}))
            print(f"N = M = {n}: data in {generated:.1f} s", flush=True)
            if args.chunks_only:
                chunks = [_run_child("chunk", folder, "--chunk-size", str(c)) for c in args.chunk_sizes]
                sections += chunk_table(n, chunks)
                print("\n".join(chunk_table(n, chunks)), flush=True)
                shutil.rmtree(folder)
                continue
            floor = _run_child("floor", folder)
            runs: list[tuple[str, dict[str, Any]]] = []
            for _ in range(args.repeat if args.baseline else 1):
                if args.baseline:
                    runs.append(("baseline", _run_child("suite", folder, engine=args.baseline.resolve())))
                runs.append(("current", _run_child("suite", folder)))
            suite = runs[-1][1]
            blas = suite["blas"]
            sections += size_table(n, generated, floor, suite)
            print("\n".join(size_table(n, generated, floor, suite)), flush=True)
            if args.baseline:
                sections += compare_table(n, floor, runs)
                print("\n".join(compare_table(n, floor, runs)), flush=True)
            if n == max(args.sizes):
                chunks = [_run_child("chunk", folder, "--chunk-size", str(c)) for c in args.chunk_sizes]
                sections += chunk_table(n, chunks)
                print("\n".join(chunk_table(n, chunks)), flush=True)
            shutil.rmtree(folder)
    text = "\n".join([*header(machine(), blas, command.strip(), start_load), *sections])
    args.out.write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
