"""Benchmark the board dashboard on large portfolios; print a Markdown table.

    .venv/bin/python -m bench.board_scale                                # SQLite, 1,000 and 10,000 projects
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_board .venv/bin/python -m bench.board_scale --sizes 1000 10000 50000

Against a fresh database (migrated here; on PostgreSQL the named database is created and
dropped again), for each size it adds that many projects of every kind with
`tests.oversight.worlds.bulk_world` (rounds, outcomes, assignments, submitted reviews with a
must-change verdict, two audit runs each, waivers) and measures the figures of the whole
portfolio (`oversight.selectors.board`) and of one filtered view (version, modality, a year
of first submissions): the queries run (the same at every size) and the wall time, best of
three. The sizes add up: the second size's portfolio includes the first's.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path


def _database(tmp: Path) -> str:
    if not os.environ.get("DATABASE_URL", ""):
        os.environ["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
        return "SQLite"
    return "PostgreSQL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000], help="portfolio sizes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="misyn-bench-board-") as folder:
        engine = _database(Path(folder))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
        os.environ.setdefault("PRIVATE_STORAGE_ROOT", folder)
        import django

        django.setup()
        from django.test.utils import setup_databases, setup_test_environment, teardown_databases

        setup_test_environment()
        with redirect_stdout(io.StringIO()):
            config = setup_databases(verbosity=0, interactive=False)
        try:
            _run(engine, sorted(args.sizes))
        finally:
            teardown_databases(config, verbosity=0)


def _timed(function: object, repeats: int = 3) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    best, queries = float("inf"), 0
    for _ in range(repeats):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            function()  # type: ignore[operator]
            best = min(best, time.perf_counter() - start)
        queries = len(captured.captured_queries)
    return best, queries


def _run(engine: str, sizes: list[int]) -> None:
    from django.db import connection
    from django.utils import timezone

    from oversight.selectors import BoardFilters, board, board_projects
    from reviews.models import Project
    from reviews.services.catalogue import catalogue_load
    from tests.oversight.worlds import bulk_world

    catalogue, _ = catalogue_load()
    today = timezone.localdate()
    everything = BoardFilters()
    filtered = BoardFilters(
        version=catalogue, modality="CT", submitted_after=date(2025, 1, 1), submitted_before=date(2025, 12, 31)
    )
    print("| database | projects | build | whole portfolio | queries | filtered view | queries |")
    print("|---|---|---|---|---|---|---|")
    built = 0
    for size in sizes:
        start = time.perf_counter()
        bulk_world(catalogue, size - built)
        build = time.perf_counter() - start
        built = size
        if Project.objects.count() != size:
            raise RuntimeError(f"expected {size} projects, found {Project.objects.count()}")
        if connection.vendor == "postgresql":
            # What autovacuum does soon after a bulk load: without statistics the planner
            # guesses, and a fresh table of 10,000 rows can take seconds instead of milliseconds.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        whole, whole_queries = _timed(lambda: board(board_projects(everything), today=today, filters=everything))
        narrow, narrow_queries = _timed(lambda: board(board_projects(filtered), today=today, filters=filtered))
        print(
            f"| {engine} | {size:,} | {build:.1f} s | {1000 * whole:,.0f} ms | {whole_queries} "
            f"| {1000 * narrow:,.0f} ms | {narrow_queries} |"
        )


if __name__ == "__main__":
    sys.exit(main())
