"""List pages at 10, 10,000 and 100,000 projects on PostgreSQL: query plans and wall time.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_scale .venv/bin/python -m bench.scale
    DATABASE_URL=... .venv/bin/python -m bench.scale --sizes 10 10000        # a quicker look

Against a fresh test database (created and dropped again; the URL's name gets the test
prefix), for each size it adds projects until there are that many (`load_projects`: the
board's `tests.oversight.worlds.bulk_world` in batches, rounds, outcomes, assignments,
reviews, two audit runs each, plus 23 answered checklist items per project as in issue 13's
10,000-project measurement), runs VACUUM ANALYZE as autovacuum would, then for every list page:

- the page through the test client, signed in as the administrator (who sees every project)
  or the researcher who owns them: wall time (median of 5) and number of queries;
- every query that page ran, again under `EXPLAIN (ANALYZE, FORMAT JSON)`: the slowest one's
  top plan node, its rows and its execution time, and the sum of all execution times.

The claim to check: each row stays flat from the smallest size to the largest. The sizes add
up (the 100,000 portfolio includes the 10,000). Load times are printed too.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BATCH = 10_000
# Issue 13 measured 234,872 answers over 10,000 projects: about 23 per project.
ANSWERS_PER_PROJECT = 23


def load_projects(n: int) -> float:
    """Add `n` projects of every kind with their answers; returns the seconds it took.

    `bulk_world` per batch of 10,000 (its lists live in memory), then one INSERT ... SELECT
    for the batch's answers (PostgreSQL builds 230,000 rows faster than Python can)."""
    from django.db import connection

    from reviews.models import GuidelineItem, Project
    from reviews.services.catalogue import catalogue_load
    from tests.oversight.worlds import bulk_world

    catalogue, _ = catalogue_load()
    items = list(
        GuidelineItem.objects.filter(version=catalogue)
        .order_by("stage__order", "order")
        .values_list("pk", flat=True)[:ANSWERS_PER_PROJECT]
    )
    start = time.perf_counter()
    left = n
    while left > 0:
        batch = min(BATCH, left)
        after = Project.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        bulk_world(catalogue, batch)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO reviews_answer (project_id, item_id, status, justification, evidence_text, updated_at)"
                " SELECT p.id, i.id, 'met', '', 'Documented in the protocol, section 3.', now()"
                " FROM reviews_project p CROSS JOIN unnest(%s::integer[]) AS i(id) WHERE p.id > %s",
                [items, after],
            )
        left -= batch
    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk load: statistics for the planner, and the
        # visibility map that lets a COUNT(*) read the primary key's index alone.
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - start


@dataclass(frozen=True)
class Page:
    name: str
    url: str
    user: str  # "admin" or "researcher"


PAGES = [
    Page("home (admin)", "/", "admin"),
    Page("project list (admin)", "/projects/", "admin"),
    Page("project list (admin), last page", "/projects/?page=last", "admin"),
    Page("project list (admin), by status", "/projects/?sort=status", "admin"),
    Page("project list (admin), by title", "/projects/?sort=title", "admin"),
    Page("project list (admin), by first submission", "/projects/?sort=-submitted", "admin"),
    Page("project list (admin), search + modality", "/projects/?q=bulk&modality=CT", "admin"),
    Page("project list (admin), overdue", "/projects/?overdue=1", "admin"),
    Page("project list (researcher)", "/projects/", "researcher"),
    Page("home (researcher)", "/", "researcher"),
    Page("every review (admin)", "/reviews/all/", "admin"),
    Page("board dashboard", "/board/", "admin"),
    Page("public register", "/register/", "admin"),
    Page("API project list", "/api/v1/projects/", "admin"),
]


def _explain(sql: str) -> tuple[str, float]:
    """The plan's top node (with the node under a Limit) and its rows, and the execution time in
    ms, of one query run again under EXPLAIN ANALYZE."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        found = cursor.fetchone()
    plan = found[0] if found else [{}]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    top = plan[0]["Plan"]
    node = top["Node Type"]
    if node == "Limit" and top.get("Plans"):
        node = f"Limit < {top['Plans'][0]['Node Type']}"
    return f"{node}, {top['Actual Rows']:,} rows", float(plan[0]["Execution Time"])


@dataclass
class Figures:
    wall_ms: float
    queries: int
    sql_ms: float
    slowest: tuple[str, float]


def measure(client: Any, url: str) -> Figures:
    """Wall time of the page (median of 5) and its queries, each explained once more."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    plans = [_explain(q["sql"]) for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    return Figures(
        wall_ms=1000 * statistics.median(times),
        queries=len(captured.captured_queries),
        sql_ms=sum(ms for _node, ms in plans),
        slowest=max(plans, key=lambda plan: plan[1]) if plans else ("-", 0.0),
    )


def _clients() -> dict[str, Any]:
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from api.services.tokens import token_create
    from reviews.models import Project
    from tests.factories import AdminFactory

    admin = AdminFactory()
    owner = Project.objects.order_by("pk").first()
    if owner is None:
        raise RuntimeError("load the projects first")
    clients = {"admin": Client(), "researcher": Client()}
    clients["admin"].force_login(admin)
    clients["researcher"].force_login(owner.owner)
    _token, raw = token_create(user=admin, name="scale", scope="read", expires_at=timezone.now() + timedelta(days=1))
    clients["token"] = Client(headers={"Authorization": f"Bearer {raw}"})
    return clients


def _url(page: Page, size: int) -> str:
    last = max(1, -(-size // 50))
    return page.url.replace("page=last", f"page={last}")


def run(sizes: list[int]) -> None:
    from reviews.models import Project

    results: dict[tuple[str, int], Figures] = {}
    loads = []
    clients: dict[str, Any] = {}
    for size in sizes:
        seconds = load_projects(size - Project.objects.count())
        loads.append(f"{size:,} projects: {seconds:.0f} s")
        print(f"loaded {size:,} projects in {seconds:.0f} s", file=sys.stderr, flush=True)
        clients = clients or _clients()
        for page in PAGES:
            client = clients["token" if page.url.startswith("/api/") else page.user]
            results[page.name, size] = measure(client, _url(page, size))
    print(f"Loading (adding up to each size): {'; '.join(loads)}.\n")
    print("| page | projects | wall ms (median of 5) | queries | sum of query ms | slowest query: plan top | its ms |")
    print("|---|---|---|---|---|---|---|")
    for page in PAGES:
        for size in sizes:
            f = results[page.name, size]
            print(
                f"| {page.name} | {size:,} | {f.wall_ms:,.1f} | {f.queries} | {f.sql_ms:,.2f} "
                f"| {f.slowest[0]} | {f.slowest[1]:,.2f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 10_000, 100_000])
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("bench.scale needs DATABASE_URL=postgres://... (EXPLAIN ANALYZE is PostgreSQL's)")
    with tempfile.TemporaryDirectory(prefix="misyn-bench-scale-") as folder:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
        os.environ.setdefault("PRIVATE_STORAGE_ROOT", str(Path(folder) / "private"))
        import django

        django.setup()
        from django.test.utils import setup_databases, setup_test_environment, teardown_databases

        setup_test_environment()
        with redirect_stdout(io.StringIO()):
            config = setup_databases(verbosity=0, interactive=False)
        try:
            run(sorted(args.sizes))
        finally:
            teardown_databases(config, verbosity=0)


def pages_world(n: int) -> dict[str, Any]:
    """The page benchmark's world (bench/pages.py), under settings that allow demo data: the
    demo accounts and projects (`setup_demo`: a submitted project, an approved one with its
    audits computed), the submitted one's round assigned to two reviewers who accepted, `n`
    more projects from `load_projects`, and an API token for the administrator. Returns the
    pages' ids, the token and the seconds the load took."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from api.services.tokens import token_create
    from audits.enums import RunStatus
    from audits.models import AuditRun
    from reviews.enums import ProjectStatus
    from reviews.models import Project, User
    from reviews.services.assignments import assignment_create, assignment_respond

    with redirect_stdout(io.StringIO()):
        call_command("setup_demo")
    users = {user.username: user for user in User.objects.filter(username__in=["admin", "researcher", "reviewer-tech"])}
    researcher_projects = Project.objects.filter(owner=users["researcher"])
    submitted = researcher_projects.get(status=ProjectStatus.SUBMITTED)
    assignment_create(actor=users["admin"], project=submitted, reviewer=users["reviewer-tech"])
    assignment_respond(actor=users["reviewer-tech"], project=submitted, accept=True)
    run = AuditRun.objects.filter(project__owner=users["researcher"], status=RunStatus.SUCCEEDED).latest("pk")
    _token, raw = token_create(
        user=users["admin"], name="page benchmark", scope="read", expires_at=timezone.now() + timedelta(days=1)
    )
    seconds = load_projects(n)
    return {
        "submitted": submitted.pk,
        "run_project": run.project_id,
        "run": run.pk,
        "token": raw,
        "load_seconds": seconds,
        "projects": Project.objects.count(),
    }


if __name__ == "__main__":
    main()
