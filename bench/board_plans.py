"""The board dashboard's queries, one by one, on a kept PostgreSQL portfolio: plans and times.

    createdb -h 127.0.0.1 -U postgres bench_h7
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_h7 .venv/bin/python -m bench.board_plans --size 10000
    DATABASE_URL=... .venv/bin/python -m bench.board_plans --size 100000 --plans

Unlike bench/scale.py the database named in DATABASE_URL is used as it is and kept: it is
migrated, projects are added (bench.scale.load_projects) until there are `--size` of them, and
the next run with a larger size adds only the difference. Loading 100,000 projects takes long
on a shared machine; profiling them again then takes seconds.

For the unfiltered board and one filtered view (a version, a modality, a year of first
submissions) it prints the wall time of `oversight.selectors.board` (median of 3) and, with
`--plans`, every query it ran again under EXPLAIN ANALYZE: execution time and the plan's top
nodes, slowest first. With `--pages` it times the board page instead (snapshot kept,
recounted, filtered, the CSV) against the bare signed-in view, interleaved (`pages`). The load
average is printed: the figures of a shared machine are noisy; compare ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any


def _plan_lines(node: dict[str, Any], depth: int = 0, limit: int = 6) -> list[str]:
    """The plan's first nodes, indented, with their actual rows and time."""
    line = f"{'  ' * depth}{node['Node Type']}"
    if node.get("Relation Name"):
        line += f" on {node['Relation Name']}"
    if node.get("Index Name"):
        line += f" using {node['Index Name']}"
    line += f" (rows {node.get('Actual Rows', 0):,} x{node.get('Actual Loops', 1)}, {node.get('Actual Total Time', 0):,.1f} ms)"
    lines = [line]
    for child in node.get("Plans", []):
        if len(lines) >= limit:
            break
        lines.extend(_plan_lines(child, depth + 1, limit - len(lines)))
    return lines


def explain(sql: str) -> tuple[float, list[str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        found = cursor.fetchone()
    plan = found[0] if found else [{}]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Execution Time"]), _plan_lines(plan[0]["Plan"], limit=12)


def measure(name: str, filters: Any, *, plans: bool) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from oversight.selectors import board, board_projects

    times = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            board(board_projects(filters), today=timezone.localdate(), filters=filters)
            times.append(time.perf_counter() - start)
    queries = [q["sql"] for q in captured.captured_queries]
    print(f"\n## {name}: {1000 * statistics.median(times):,.0f} ms wall (median of 3), {len(queries)} queries")
    if not plans:
        return
    explained = [(explain(sql), sql) for sql in queries if sql.lstrip("( ").upper().startswith("SELECT")]
    print(f"sum of execution times: {sum(ms for (ms, _), _ in explained):,.1f} ms")
    for (ms, lines), sql in sorted(explained, key=lambda row: -row[0][0]):
        print(f"\n{ms:,.1f} ms: {sql[:300]}")
        print("\n".join(f"    {line}" for line in lines))


PAGE_ROUNDS = 7


def pages(size: int) -> None:
    """The board page through the test client, signed in as an administrator, against the
    bare signed-in view (bench/urls.py) of the same run, interleaved round by round: with the
    snapshot kept (what readers get), recounted on the spot (what the page did for every
    reader before the snapshot; now only when none is fresh), and filtered (live)."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from oversight.snapshot import SNAPSHOT_KEY
    from reviews.enums import Role
    from reviews.models import GuidelineVersion, User
    from tests.factories import AdminFactory

    client = Client()
    # bulk_world made administrators; a kept database may not take a factory's next name.
    admin = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk").first() or AdminFactory()
    client.force_login(admin)
    version = GuidelineVersion.objects.order_by("pk").first()
    year = date.today().year - 1
    filtered = f"/board/?version={version.pk if version else ''}&modality=CT&submitted_after={year}-01-01&submitted_before={year}-12-31"
    views = {
        "bare view, signed in": ("/bench/bare/", False),
        "board, snapshot kept": ("/board/", False),
        "board, recounted (no snapshot)": ("/board/", True),
        "board, filtered (live)": (filtered, False),
        "board CSV, snapshot kept": ("/board/export.csv", False),
    }
    times: dict[str, list[float]] = {name: [] for name in views}
    queries: dict[str, int] = {}
    with override_settings(ROOT_URLCONF="bench.urls"):
        client.get("/board/")  # a first snapshot, as beat would have left
        for _ in range(PAGE_ROUNDS):
            for name, (url, recount) in views.items():
                if recount:
                    cache.delete(SNAPSHOT_KEY)
                with CaptureQueriesContext(connection) as captured:
                    start = time.perf_counter()
                    response = client.get(url)
                    times[name].append(1000 * (time.perf_counter() - start))
                if response.status_code != 200:
                    raise RuntimeError(f"{url} answered {response.status_code}")
                queries[name] = len(captured.captured_queries)
    bare = statistics.median(times["bare view, signed in"])
    print(f"\n## pages at {size:,} projects (median of {PAGE_ROUNDS}, interleaved); load average {os.getloadavg()}")
    print("| page | projects | wall ms | x bare | queries |\n|---|---|---|---|---|")
    for name, values in times.items():
        ms = statistics.median(values)
        print(f"| {name} | {size:,} | {ms:,.1f} | {ms / bare:,.1f} | {queries[name]} |")


def run(size: int, *, plans: bool, with_pages: bool) -> None:
    from django.core.management import call_command
    from django.db import connection

    from bench.scale import load_projects
    from oversight.selectors import BoardFilters
    from reviews.enums import Modality
    from reviews.models import GuidelineVersion, Project

    call_command("migrate", verbosity=0)
    missing = size - Project.objects.count()
    if missing > 0:
        print(f"loading {missing:,} projects ...", file=sys.stderr, flush=True)
        print(f"loaded in {load_projects(missing):,.0f} s", file=sys.stderr, flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"# board at {Project.objects.count():,} projects; load average {os.getloadavg()}")
    version = GuidelineVersion.objects.order_by("pk").first()
    year = date.today().year - 1
    filtered = BoardFilters(
        version=version, modality=Modality.CT, submitted_after=date(year, 1, 1), submitted_before=date(year, 12, 31)
    )
    if with_pages:
        pages(size)
        return
    measure("unfiltered", BoardFilters(), plans=plans)
    measure("filtered (version, CT, a year)", filtered, plans=plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000, help="projects to have in the database")
    parser.add_argument("--plans", action="store_true", help="EXPLAIN ANALYZE every query")
    parser.add_argument("--pages", action="store_true", help="time the pages against a bare view instead")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("bench.board_plans needs DATABASE_URL=postgres://... (a database it may keep)")
    with tempfile.TemporaryDirectory(prefix="misyn-bench-board-plans-") as folder:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
        os.environ.setdefault("PRIVATE_STORAGE_ROOT", str(Path(folder) / "private"))
        import django

        django.setup()
        run(args.size, plans=args.plans, with_pages=args.pages)


if __name__ == "__main__":
    main()
