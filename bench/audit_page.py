"""Cold loads of audit result pages: the vendored plotly partial bundle against the full bundle.

    .venv/bin/python -m bench.audit_page                       # 5 rounds, memorization and fidelity
    .venv/bin/python -m bench.audit_page --rounds 9 --audits memorization,fidelity,manifest

What it does, all on this machine and on loopback:

1. an empty PostgreSQL database (`--database-url`, dropped and created again) gets the demo data
   (`manage.py setup_demo` under the local settings: its approved project has a computed run);
2. `manage.py collectstatic` under the production settings into two temporary STATIC_ROOTs, one
   with today's static files (the partial bundle) and one where vendor/plotly/plotly.min.js is the
   full bundle of the plotly Python wheel (plotly.js 4.1.1, what was vendored before); both with
   hashed names, .gz and .br copies (the admin, REST framework and Swagger files are left out:
   audit pages do not load them and compressing them takes minutes);
3. two gunicorns with the production settings (2 sync workers each), one per STATIC_ROOT;
4. Debian's chromium (never a downloaded browser) loads each audit page cold, in a new browser
   context (empty cache), signed in by a session cookie; a round loads every page from both
   servers, the order of the two alternating from round to round. The time is from navigation
   start to `<body data-charts-drawn>`, which static/js/audits.js sets once every chart is drawn;
   the page's own Navigation and Resource Timing give the document, DOMContentLoaded and the
   plotly transfer (bytes on the wire, Content-Encoding).

Figures on a shared 2-core machine are noisy: compare the two bundles within one run (the
medians and their ratio), and read the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
IGNORED_STATIC = ["admin", "rest_framework", "drf_spectacular_sidecar", "build"]
VARIANTS = ("partial", "full")

# Before any page script: note when audits.js marks the last chart drawn (ms since navigation start).
WATCH_DRAWN = """
new MutationObserver((_, observer) => {
  if (document.body && document.body.dataset.chartsDrawn) {
    window.__chartsDrawn = performance.now();
    observer.disconnect();
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-charts-drawn"] });
"""

TIMINGS = """
() => {
  const navigation = performance.getEntriesByType("navigation")[0];
  const plotly = performance.getEntriesByType("resource").find((entry) => entry.name.includes("/vendor/plotly/plotly.min."));
  const charts = [...document.querySelectorAll("[data-chart]")];
  return {
    drawn: window.__chartsDrawn,
    document: navigation.responseEnd,
    interactive: navigation.domInteractive,
    scriptsRun: navigation.domContentLoadedEventStart,
    contentLoaded: navigation.domContentLoadedEventEnd,
    plotlyEnd: plotly ? plotly.responseEnd : null,
    plotlyWire: plotly ? plotly.transferSize : null,
    plotlyBody: plotly ? plotly.encodedBodySize : null,
    charts: charts.length,
    chartsWithSvg: charts.filter((chart) => chart.querySelector(".main-svg")).length,
  };
}
"""


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ms(root: int) -> float:
    """CPU time (user + system) of a process and all its descendants now alive, in ms (from /proc)."""
    children: dict[int, list[int]] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = int(fields[11]) + int(fields[12])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total * 1000 / CLOCK_TICKS


@dataclass
class Server:
    variant: str
    port: int
    static_root: Path
    process: subprocess.Popen[bytes] | None = None
    loads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"


def _run(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603 (our own arguments)
    if result.returncode:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _recreate_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.strip("/")
    if not name.startswith("misyn_"):
        raise SystemExit(f"--database-url must name a scratch database misyn_*, got {name!r}: it is dropped")
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


SIGN_IN = """
import json
from django.test import Client
from audits.enums import RunStatus
from audits.models import AuditRun
run = AuditRun.objects.filter(status=RunStatus.SUCCEEDED, results__isnull=False).order_by("-pk").first()
client = Client()
client.force_login(run.project.owner)
print(json.dumps({"project": run.project.pk, "run": run.pk, "session": client.cookies["sessionid"].value}))
"""


def _demo(env: dict[str, str]) -> dict[str, Any]:
    local = {**env, "DJANGO_SETTINGS_MODULE": "config.settings.local", "DEBUG": "false"}
    _run([sys.executable, "manage.py", "migrate", "--noinput"], local)
    _run([sys.executable, "manage.py", "setup_demo"], local)
    out = _run([sys.executable, "manage.py", "shell", "--no-imports", "-c", SIGN_IN], local)
    return json.loads(out.strip().splitlines()[-1])


def _full_bundle() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _collect(server: Server, env: dict[str, str], scratch: Path) -> None:
    settings = "config.settings.production"
    if server.variant == "full":
        # The full bundle found first, under the same name: a settings module that puts an
        # overlay folder before static/ (collectstatic keeps the first file of a name).
        overlay = scratch / "full-overlay"
        (overlay / "vendor" / "plotly").mkdir(parents=True)
        shutil.copyfile(_full_bundle(), overlay / "vendor" / "plotly" / "plotly.min.js")
        (scratch / "bench_full_plotly.py").write_text(
            "from config.settings.production import *  # noqa: F403\n"
            f"STATICFILES_DIRS = [{str(overlay)!r}, *STATICFILES_DIRS]  # noqa: F405\n"
        )
        settings = "bench_full_plotly"
    env.update(DJANGO_SETTINGS_MODULE=settings, STATIC_ROOT=str(server.static_root))
    ignore = [arg for pattern in IGNORED_STATIC for arg in ("--ignore", pattern)]
    _run([sys.executable, "manage.py", "collectstatic", "--noinput", *ignore], env)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn on port {port} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"gunicorn on port {port} did not start")


@contextmanager
def _servers(servers: list[Server], envs: dict[str, dict[str, str]], scratch: Path) -> Iterator[None]:
    try:
        for server in servers:
            command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--workers", "2"]
            command += ["--bind", f"127.0.0.1:{server.port}", "--timeout", "120"]
            with (scratch / f"gunicorn-{server.variant}.log").open("wb") as log:
                server.process = subprocess.Popen(  # noqa: S603 (our own arguments)
                    command, cwd=ROOT, env=envs[server.variant], stdout=log, stderr=subprocess.STDOUT
                )
        for server in servers:
            if server.process is not None:
                _wait_for_port(server.port, server.process)
        yield
    finally:
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                server.process.terminate()
                server.process.wait(timeout=30)


def _load(browser: Any, server: Server, path: str, session: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        context.add_cookies([{"name": "sessionid", "value": session, "domain": "localhost", "path": "/"}])
        context.add_init_script(WATCH_DRAWN)
        page = context.new_page()
        encodings: dict[str, str] = {}
        page.on(
            "response", lambda response: encodings.update({response.url: response.headers.get("content-encoding", "")})
        )
        if server.process is None:
            raise SystemExit(f"the {server.variant} server is not running")
        browser_cpu, server_cpu = _cpu_ms(os.getpid()), _cpu_ms(server.process.pid)
        page.goto(server.url + path)
        page.wait_for_function("() => window.__chartsDrawn !== undefined", timeout=60_000)
        # chromium (all its processes: the driver's children) and gunicorn, page load to last chart
        timings = {
            "browserCpu": _cpu_ms(os.getpid()) - browser_cpu,
            "serverCpu": _cpu_ms(server.process.pid) - server_cpu,
            **page.evaluate(TIMINGS),
        }
        if not timings["charts"] or timings["chartsWithSvg"] != timings["charts"]:
            raise SystemExit(f"{server.variant} {path}: {timings['chartsWithSvg']} of {timings['charts']} charts drawn")
        timings["encoding"] = next(
            (value for url, value in encodings.items() if "/vendor/plotly/plotly.min." in url), ""
        )
        return timings
    finally:
        context.close()


def _median(loads: list[dict[str, Any]], key: str) -> float:
    return statistics.median(load[key] for load in loads)


def _report(servers: list[Server], audits: list[str], rounds: int, load_before: tuple[float, ...]) -> str:
    partial, full = servers
    lines = [
        f"Cold loads, {rounds} rounds; medians in ms from navigation start (scripts run: the deferred"
        " scripts, plotly among them, have run; CPU: user + system time of all chromium processes and of"
        f" gunicorn from navigation to the last chart). Load average before "
        f"{load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} (1/5/15 min), "
        f"after {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f} / {os.getloadavg()[2]:.2f}; {os.cpu_count()} cores.",
        "",
        "| page (charts) | bundle | all charts drawn | min-max | plotly received | scripts run | chromium CPU | gunicorn CPU | plotly on the wire |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for audit in audits:
        for server in (full, partial):
            loads = server.loads[audit]
            drawn = [load["drawn"] for load in loads]
            lines.append(
                f"| {audit} ({loads[0]['charts']}) | {server.variant} | {_median(loads, 'drawn'):.0f} "
                f"| {min(drawn):.0f}-{max(drawn):.0f} | {_median(loads, 'plotlyEnd'):.0f} "
                f"| {_median(loads, 'scriptsRun'):.0f} | {_median(loads, 'browserCpu'):.0f} "
                f"| {_median(loads, 'serverCpu'):.0f} | {loads[0]['plotlyWire']:,} B ({loads[0]['encoding'] or 'identity'}) |"
            )
        ratios = [
            _median(full.loads[audit], key) / _median(partial.loads[audit], key) for key in ("drawn", "browserCpu")
        ]
        lines.append(f"| {audit} | full / partial | {ratios[0]:.2f}x | | | | {ratios[1]:.2f}x | | |")
    lines += ["", "| bundle | plotly.min.js | .gz | .br |", "|---|---|---|---|"]
    for server in (full, partial):
        hashed = next(path for path in (server.static_root / "vendor" / "plotly").glob("plotly.min.*.js"))
        sizes = [hashed.stat().st_size, Path(f"{hashed}.gz").stat().st_size, Path(f"{hashed}.br").stat().st_size]
        lines.append(f"| {server.variant} | " + " | ".join(f"{size:,} B" for size in sizes) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--audits", default="memorization,fidelity", help="comma-separated audit pages to load")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/misyn_bench_audit_page")
    parser.add_argument("--port", type=int, default=8321, help="the partial bundle's server; the full one's is +1")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    audits = [name.strip() for name in args.audits.split(",") if name.strip()]
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")

    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="misyn-bench-audit-page-"))
    try:
        base = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in {"REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
            },
            "DATABASE_URL": args.database_url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "localhost",
            "SECURE_SSL_REDIRECT": "false",
            "MISYN_VAR_DIR": str(scratch / "var"),  # broker, cache and private files of this run only
            "PYTHONPATH": os.pathsep.join([str(scratch), str(ROOT)]),
        }
        print("demo data ...", flush=True)
        _recreate_database(args.database_url)
        demo = _demo(base)
        servers = [Server(variant, args.port + i, scratch / f"static-{variant}") for i, variant in enumerate(VARIANTS)]
        envs = {}
        for server in servers:
            print(f"collectstatic ({server.variant} bundle) ...", flush=True)
            envs[server.variant] = dict(base)
            _collect(server, envs[server.variant], scratch)
        paths = {audit: f"/projects/{demo['project']}/audits/runs/{demo['run']}/{audit}/" for audit in audits}
        with _servers(servers, envs, scratch), sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for audit in audits:  # once each, unmeasured: the servers' first requests import everything
                for server in servers:
                    _load(browser, server, paths[audit], demo["session"])
            for round_number in range(args.rounds):
                order = servers if round_number % 2 == 0 else servers[::-1]
                for audit in audits:
                    for server in order:
                        server.loads.setdefault(audit, []).append(_load(browser, server, paths[audit], demo["session"]))
                print(f"round {round_number + 1} of {args.rounds} done", flush=True)
            browser.close()
        print(_report(servers, audits, args.rounds, load_before))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
