"""CPU per request of the review page, a blank signed-in page and a bare view, in process.

    .venv/bin/python -m bench.review_page                                   # SQLite, 30 rounds
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/misyn_bench .venv/bin/python -m bench.review_page --rounds 60
    .venv/bin/python -m bench.review_page --profile 20                      # where the review page's time goes

Against a fresh test database (created and dropped again), it builds one submitted project
with every item of the shipped catalogue answered (Markdown evidence text), two accepted
reviewers and an administrator, then requests, through Django's whole middleware stack and
context processors (django.test.Client, without the test environment's template
instrumentation), in interleaved rounds:

- bare: a view that answers a fixed text, anonymous (the floor every page pays);
- blank: a signed-in page that extends base.html with no content (the common page cost:
  sessions, authentication, navigation, messages, CSP);
- review: the review page of a reviewer with a draft (every verdict control editable);
- review-errors: the same page re-rendered for an invalid submission (400, errors shown);
- review-read: the page of the other reviewer after submitting (read-only verdicts);
- review-admin: the page as an administrator reads it.

Each round requests every page once, in turn, and measures the process CPU time
(time.process_time) of each request; the table gives medians and the ratio of each median to
the bare view's in the same run, and the SQL queries of one request of each page. On
PostgreSQL the database server's CPU is not counted (another process); on SQLite it is. `--profile N` profiles N review-page requests with
cProfile and prints the share of template rendering, form widgets and SQL.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path

EVIDENCE = """Documented in the **protocol**, section 3:

- the training data come from [the consortium](https://example.org/consortium);
- the split is by patient, 70 / 15 / 15;
- see `docs/split.md` for the seeds.

| set | patients | images |
|---|---|---|
| train | 700 | 21,000 |
| test | 150 | 4,500 |
"""


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@login_required
def blank(request: HttpRequest) -> HttpResponse:
    return render(request, "base.html")


def __getattr__(name: str) -> Any:
    """The bench's URLs (settings.ROOT_URLCONF is this module): the two baselines beside the
    whole site, built on first use, once Django is set up."""
    if name != "urlpatterns":
        raise AttributeError(name)
    return [path("bench/bare/", bare), path("bench/blank/", blank), path("", include("config.urls"))]


def _database(tmp: Path) -> str:
    if not os.environ.get("DATABASE_URL", ""):
        os.environ["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
        return "SQLite"
    return "PostgreSQL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (each requests every page once)")
    parser.add_argument("--profile", type=int, default=0, help="profile this many review-page requests instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="misyn-bench-review-") as folder:
        engine = _database(Path(folder))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
        os.environ.setdefault("PRIVATE_STORAGE_ROOT", folder)
        import django

        django.setup()
        from django.conf import settings
        from django.test.utils import setup_databases, teardown_databases

        settings.ROOT_URLCONF = "bench.review_page"
        logging.getLogger("django.request").setLevel(logging.ERROR)  # the measured 400s are expected
        with redirect_stdout(io.StringIO()):
            config = setup_databases(verbosity=0, interactive=False)
        try:
            pages = _world()
            _check(pages)
            if args.profile:
                _profile(pages["review"], args.profile)
            else:
                _run(engine, pages, args.rounds)
        finally:
            teardown_databases(config, verbosity=0)


Request = Callable[[], Any]


def _world() -> dict[str, Request]:
    """One submitted project under review, and a request per page measured."""
    from django.test import Client
    from django.urls import reverse

    from reviews.enums import AnswerStatus, Verdict
    from reviews.models import GuidelineItem
    from reviews.services.catalogue import catalogue_load
    from reviews.services.projects import answer_save, project_submit
    from reviews.services.review import review_draft_save
    from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory
    from tests.workflow import review, reviewers_on

    version, _ = catalogue_load()
    owner = ResearcherFactory(full_name="Rosa Researcher")
    project = ProjectFactory(owner=owner, guideline_version=version, title="Brain MRI synthesis")
    items = list(GuidelineItem.objects.filter(version=version).order_by("stage__order", "order"))
    for item in items:
        answer_save(
            actor=owner, project=project, item=item, status=AnswerStatus.MET, justification="", evidence_text=EVIDENCE
        )
    round_ = project_submit(actor=owner, project=project)
    admin = AdminFactory(full_name="Ada Admin")
    technical, clinical = reviewers_on(project, admin=admin)
    draft = {f"verdict_{item.code}": Verdict.ACCEPTABLE for item in items[::2]}
    draft |= {f"comment_{item.code}": "Fine as documented." for item in items[::3]}
    review_draft_save(actor=technical, round_=round_, fields=draft)
    review(round_, clinical, verdict=Verdict.CONCERN)
    url = reverse("round-review", kwargs={"pk": project.pk, "number": round_.number})
    invalid = {**draft, "action": "submit", f"verdict_{items[1].code}": Verdict.CONCERN, f"comment_{items[1].code}": ""}

    def client(user: Any) -> Client:
        signed_in = Client()
        signed_in.force_login(user)
        return signed_in

    anonymous, as_technical, as_clinical, as_admin = Client(), client(technical), client(clinical), client(admin)
    return {
        "bare": lambda: anonymous.get("/bench/bare/"),
        "blank": lambda: as_technical.get("/bench/blank/"),
        "review": lambda: as_technical.get(url),
        "review-errors": lambda: as_technical.post(url, invalid),
        "review-read": lambda: as_clinical.get(url),
        "review-admin": lambda: as_admin.get(url),
    }


def _check(pages: dict[str, Request]) -> None:
    """Every page answers what it should, or the figures would measure an error page."""
    expected = {"bare": 200, "blank": 200, "review": 200, "review-errors": 400, "review-read": 200, "review-admin": 200}
    for name, request in pages.items():
        response = request()
        if response.status_code != expected[name]:
            raise SystemExit(f"{name}: answered {response.status_code}, expected {expected[name]}")
    if b'name="verdict_' not in pages["review"]().content:
        raise SystemExit("review: no verdict controls on the page")


def _queries(request: Request) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        request()
    return len(queries)


def _run(engine: str, pages: dict[str, Request], rounds: int) -> None:
    for request in pages.values():  # warm the template and URL caches
        request()
    queries = {name: _queries(request) for name, request in pages.items()}
    cpu: dict[str, list[float]] = {name: [] for name in pages}
    size: dict[str, int] = {}
    for _ in range(rounds):
        for name, request in pages.items():
            started = time.process_time()
            response = request()
            cpu[name].append(time.process_time() - started)
            size[name] = len(response.content)
    load = os.getloadavg()
    bare_ms = statistics.median(cpu["bare"]) * 1000
    print(f"{engine}, {rounds} interleaved rounds, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print("| page | CPU ms per request (median) | x bare | HTML bytes | queries |")
    print("|---|---:|---:|---:|---:|")
    for name, values in cpu.items():
        median = statistics.median(values) * 1000
        print(f"| {name} | {median:.2f} | {median / bare_ms:.1f} | {size[name]:,} | {queries[name]} |")


def _profile(request: Request, count: int) -> None:
    request()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        request()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    shares = {
        "template rendering": ("django/template/base.py", "render"),
        "form widgets": ("django/forms/boundfield.py", "as_widget"),
        "radio subwidgets": ("django/forms/boundfield.py", "tag"),
        "crispy fields": ("crispy_forms/templatetags/crispy_forms_filters.py", "as_crispy_field"),
        "SQL": ("django/db/backends/utils.py", "execute"),
        "Markdown": ("reviews/templatetags/review_tags.py", "render_markdown"),
    }
    print(f"{count} review-page requests, {total / count * 1000:.1f} ms each under cProfile\n")
    for label, (file, function) in shares.items():
        cumulative = max(
            (row[3] for key, row in stats.stats.items() if key[0].endswith(file) and key[2] == function),  # type: ignore[attr-defined]
            default=0.0,
        )
        print(f"{label:>20}: {cumulative / total:6.1%}")
    print()
    stats.sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    sys.exit(main())
