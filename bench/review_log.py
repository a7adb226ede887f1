"""Benchmark the hash-chained activity log and the signing path; print a Markdown table.

    .venv/bin/python -m bench.review_log                       # SQLite in a temporary folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_log .venv/bin/python -m bench.review_log

Against a fresh database (migrated here; on PostgreSQL the named database is created and
dropped again), it measures:

- append: `activity_record` rows per second, each in its own transaction (how the services
  write them: one UPDATE of the chain head, one SELECT, one INSERT, one UPDATE per row);
- verify: `manage.py verify_log` over the whole log (streamed in batches);
- review loop: one project through submission, two assignments, two item reviews, waivers
  and two approvals (`tests.workflow`), wall time per loop.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path


def _database(tmp: Path) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        os.environ["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
        return "SQLite"
    return "PostgreSQL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="activity rows to append (default 20,000)")
    parser.add_argument("--loops", type=int, default=5, help="review loops to time (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="misyn-bench-log-") as folder:
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
            _run(engine, args.rows, args.loops)
        finally:
            teardown_databases(config, verbosity=0)


def _run(engine: str, rows: int, loops: int) -> None:
    from django.core.management import call_command
    from django.db import transaction

    from reviews.enums import Action
    from reviews.models import ActivityEntry
    from reviews.services.activity import activity_record
    from reviews.services.catalogue import catalogue_load
    from tests.factories import ProjectFactory, ResearcherFactory
    from tests.workflow import review, reviewers_on, sign, submitted, waive_all

    catalogue_load()
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner)
    start = time.perf_counter()
    for index in range(rows):
        with transaction.atomic():
            activity_record(actor=owner, action=Action.CHANGE, obj=project, project=project, new={"n": index})
    append = time.perf_counter() - start

    total = ActivityEntry.objects.count()
    start = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        call_command("verify_log")
    verify = time.perf_counter() - start

    start = time.perf_counter()
    for _ in range(loops):
        loop_project = ProjectFactory(owner=owner)
        round_ = submitted(loop_project)
        technical, clinical = reviewers_on(loop_project)
        review(round_, technical)
        review(round_, clinical)
        waive_all(round_, technical)
        sign(round_, technical)
        sign(round_, clinical)
    loop = (time.perf_counter() - start) / loops

    print(f"| database | rows appended | append rate | verify_log over {total:,} rows | review loop |")
    print("|---|---|---|---|---|")
    print(
        f"| {engine} | {rows:,} | {rows / append:,.0f} rows/s ({1000 * append / rows:.2f} ms each) "
        f"| {verify:.2f} s ({total / verify:,.0f} rows/s) | {loop:.2f} s |"
    )


if __name__ == "__main__":
    sys.exit(main())
