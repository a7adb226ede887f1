"""The page benchmark: requests per second and median latency of the site's pages under gunicorn,
each as a multiple of a bare Django view measured in the same run.

    .venv/bin/python -m bench.pages                                  # 1,000 projects, 3 rounds of 5 s
    .venv/bin/python -m bench.pages --projects 10000 --rounds 5 --seconds 10
    .venv/bin/python -m bench.pages --only bare blank review         # some pages only
    .venv/bin/python -m bench.pages --projects 10000 --keep          # keep the database and folder...
    .venv/bin/python -m bench.pages --reuse /tmp/misyn-bench-pages-… # ...and measure again without rebuilding

It creates its own PostgreSQL database (`--db`, dropped at the end unless `--keep`), migrates
it, fills it with `bench.scale.pages_world` (the demo accounts and projects, a reviewer
assigned to the submitted one, an API token, then `--projects` more projects with rounds,
reviews, audit runs and 23 answers each), collects the static files and starts gunicorn on
loopback with 2 sync workers and the production settings (DEBUG off, `bench.settings`: the
production settings plus three baseline URLs that exist only there). Redis is the cache when
REDIS_URL is set, as in production; otherwise each worker keeps its own.

Each page is checked once (200, and a sentence it must show), then loaded with wrk (Debian
package `wrk`: 1 thread, `--connections` connections) for `--seconds`; the pages take turns,
round after round, so that a change of the machine's load hits all of them alike. The table
gives per page the median over rounds of requests per second and of the p50 latency, and
"x bare": the bare view's requests per second divided by the page's (how many bare requests
one page request costs). The load average is printed before and after: on a shared machine
the absolute figures move, the ratios much less.

`--keep` keeps the database and the temporary folder (its path is printed; it holds the
collected static files, the world's ids and API token in `world.json` and the database's name),
and `--reuse FOLDER` measures against them again, with the code as it is now, without building
the world or collecting the static files again (about 3 minutes at 10,000 projects, and as
long again to compress the static files; run without it when static/ changed); a reused world
is always kept. Its API
token expires a day after it was built. Drop the database yourself when done
(`psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE <name>'`) and remove the folder.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
DEMO_PASSWORD = "demo-password"  # noqa: S105 (the demo accounts' documented password)


@dataclass(frozen=True)
class Target:
    key: str
    name: str
    path: str
    who: str  # a demo username, "token" for the API, or "" for anonymous
    shows: str  # text the answer must contain, so that a redirect or an error page is not measured


def targets(world: dict[str, int | str]) -> list[Target]:
    run = f"/projects/{world['run_project']}/audits/runs/{world['run']}/fidelity/"
    return [
        Target("bare", "bare view, signed in", "/bench/bare/", "admin", "ok"),
        Target("bare-anonymous", "bare view, anonymous", "/bench/bare-anonymous/", "", "ok"),
        Target("blank", "blank page, signed in", "/bench/blank/", "researcher", "Blank page."),
        Target("home-admin", "home (admin)", "/", "admin", "</html>"),
        Target("home-researcher", "home (researcher)", "/", "researcher", "</html>"),
        Target("projects-admin", "project list (admin)", "/projects/", "admin", "Bulk project"),
        Target("projects-researcher", "project list (researcher)", "/projects/", "researcher", "(demo)"),
        Target("board", "board dashboard", "/board/", "admin", "</html>"),
        Target("reviews-all", "every review (admin)", "/reviews/all/", "admin", "</html>"),
        Target("register", "public register, anonymous", "/register/", "", "(demo)"),
        Target("review", "review page (reviewer)", f"/projects/{world['submitted']}/rounds/1/review/", "reviewer-tech", "</form>"),
        Target("audit", "audit result page (owner)", run, "researcher", "</html>"),
        Target("api-projects", "API project list", "/api/v1/projects/", "token", '"count"'),
    ]  # fmt: skip


def psql(sql: str) -> None:
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 (our own SQL, psql on PATH)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, str, list]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request(method, path, body=body or None, headers=headers)
    answer = connection.getresponse()
    text = answer.read().decode("utf-8", "replace")
    connection.close()
    return answer.status, text, answer.getheaders()


def cookie(headers: list, name: str) -> str:
    for key, value in headers:
        found = re.match(rf"{name}=([^;]+)", value) if key.lower() == "set-cookie" else None
        if found:
            return found.group(1)
    raise SystemExit(f"no {name} cookie in {headers}")


def login(port: int, username: str) -> str:
    """Sign in through the login form; returns the Cookie header of the signed-in session."""
    _status, page, headers = request(port, "GET", "/accounts/login/", {})
    csrf = cookie(headers, "csrftoken")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if token is None:
        raise SystemExit(f"no CSRF token on the login page:\n{page[:2000]}")
    form = urlencode({"csrfmiddlewaretoken": token.group(1), "username": username, "password": DEMO_PASSWORD})
    send = {"Cookie": f"csrftoken={csrf}", "Content-Type": "application/x-www-form-urlencoded"}
    status, page, headers = request(port, "POST", "/accounts/login/", send, form.encode())
    if status != 302:
        raise SystemExit(f"signing in as {username} answered {status}:\n{page[:2000]}")
    return f"csrftoken={csrf}; sessionid={cookie(headers, 'sessionid')}"


@dataclass
class Server:
    folder: Path
    db: str
    port: int
    env: dict[str, str]
    web: subprocess.Popen[bytes] | None = None
    world: dict[str, int | str] = field(default_factory=dict)

    def manage(self, *args: str, settings: str = "bench.settings") -> str:
        env = {**self.env, "DJANGO_SETTINGS_MODULE": settings}
        command = [PY, "manage.py", *args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: S603 (our own arguments)
        if done.returncode:
            raise SystemExit(f"manage.py {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def prepare(self, projects: int) -> None:
        psql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        psql(f"CREATE DATABASE {self.db}")
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        # Demo data is refused under production settings: the world is built under the local
        # ones, against the same database.
        script = f"import json; from bench.scale import pages_world; print(json.dumps(pages_world({projects})))"
        out = self.manage("shell", "-c", script, settings="config.settings.local")
        self.world = json.loads(out.strip().splitlines()[-1])
        (self.folder / "world.json").write_text(json.dumps({"db": self.db, "world": self.world}))

    def reuse(self) -> None:
        """The world of an earlier `--keep` run in this folder, with its collected static files."""
        saved = json.loads((self.folder / "world.json").read_text())
        self.db, self.world = saved["db"], saved["world"]
        self.env = environment(self.folder, self.db)

    def start(self) -> None:
        log = open(self.folder / "web.log", "wb")  # noqa: SIM115 (kept open for the process's life)
        command = [GUNICORN, "config.wsgi", "-w", "2", "-b", f"127.0.0.1:{self.port}", "--timeout", "120"]
        env = {**self.env, "DJANGO_SETTINGS_MODULE": "bench.settings"}
        self.web = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 (ours)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/bench/bare-anonymous/", {})[0] == 200:
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not answer within 60 s:\n" + (self.folder / "web.log").read_text()[-3000:])

    def stop(self) -> None:
        if self.web is not None:
            self.web.send_signal(signal.SIGTERM)
            try:
                self.web.wait(20)
            except subprocess.TimeoutExpired:
                self.web.kill()


def environment(folder: Path, db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL")}
    return env | {
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback; the rest of the HTTPS settings stay
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "PRIVATE_STORAGE_ROOT": str(folder / "private"),
        "MISYN_VAR_DIR": str(folder / "var"),
        "STATIC_ROOT": str(folder / "static"),
        "TMPDIR": str(folder / "tmp"),
        # The API's per-user throttle would answer 429 within a second of a load test.
        "API_THROTTLE_USER_PER_MINUTE": "100000000",
        "LOG_LEVEL": "WARNING",
    }


def headers_for(target: Target, sessions: dict[str, str], token: str) -> dict[str, str]:
    if target.who == "token":
        return {"Authorization": f"Bearer {token}"}
    return {"Cookie": sessions[target.who]} if target.who else {}


def check(port: int, target: Target, headers: dict[str, str]) -> None:
    status, text, _ = request(port, "GET", target.path, headers)
    if status != 200 or target.shows not in text:
        raise SystemExit(f"{target.name} ({target.path}) answered {status} without {target.shows!r}:\n{text[:1500]}")


def wrk(port: int, target: Target, headers: dict[str, str], seconds: int, connections: int) -> tuple[float, float]:
    """(requests per second, p50 in ms) of one wrk run; any answer but 2xx/3xx is an error."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}{target.path}")
    out = subprocess.run(command, capture_output=True, text=True).stdout  # noqa: S603 (wrk with our own arguments)
    if "Non-2xx or 3xx" in out or "Socket errors" in out:
        raise SystemExit(f"{target.name}: wrk saw errors:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    if not rate or not p50:
        raise SystemExit(f"{target.name}: unexpected wrk output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    return float(rate.group(1)), float(p50.group(1)) * scale


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=1000, help="projects added besides the demo's")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per page and round")
    parser.add_argument("--connections", type=int, default=2, help="wrk connections (gunicorn has 2 workers)")
    parser.add_argument("--db", default="bench_pages", help="PostgreSQL database to create (and drop)")
    parser.add_argument("--only", nargs="+", help="page keys to measure (the bare view is always measured)")
    parser.add_argument("--keep", action="store_true", help="keep the database and the folder")
    parser.add_argument("--reuse", type=Path, help="the folder of an earlier --keep run: measure its world again")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    folder = args.reuse or Path(tempfile.mkdtemp(prefix="misyn-bench-pages-"))
    args.keep = args.keep or args.reuse is not None
    if args.reuse is None:
        (folder / "tmp").mkdir()
    server = Server(folder, args.db, free_port(), environment(folder, args.db))
    try:
        started = time.perf_counter()
        if args.reuse is not None:
            server.reuse()
            args.db = server.db
        else:
            server.prepare(args.projects)
        loaded = "reused" if args.reuse else f"loaded in {time.perf_counter() - started:.0f} s"
        print(
            f"world: {server.world['projects']:,} projects, {loaded} "
            f"(bulk projects {float(server.world['load_seconds']):.0f} s when built)",
            flush=True,
        )
        server.start()
        pages = [t for t in targets(server.world) if not args.only or t.key in args.only or t.key == "bare"]
        users = sorted({t.who for t in pages if t.who not in ("", "token")})
        sessions = {user: login(server.port, user) for user in users}
        token = str(server.world["token"])
        for target in pages:
            check(server.port, target, headers_for(target, sessions, token))
        rates: dict[str, list[float]] = {t.key: [] for t in pages}
        p50s: dict[str, list[float]] = {t.key: [] for t in pages}
        before = loadavg()
        for number in range(args.rounds):
            for target in pages:
                rate, p50 = wrk(
                    server.port, target, headers_for(target, sessions, token), args.seconds, args.connections
                )
                rates[target.key].append(rate)
                p50s[target.key].append(p50)
            print(f"round {number + 1} of {args.rounds} done (load average {loadavg()})", flush=True)
        report(pages, rates, p50s, server.world, args, before)
    finally:
        server.stop()
        if args.keep:
            print(f"kept: database {args.db}, folder {folder} (--reuse {folder})")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            psql(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")


def report(pages: list[Target], rates: dict, p50s: dict, world: dict, args: argparse.Namespace, before: str) -> None:
    bare = statistics.median(rates["bare"])
    print(
        f"\n{world['projects']:,} projects; gunicorn 2 sync workers, production settings; wrk 1 thread, "
        f"{args.connections} connections, {args.rounds} rounds of {args.seconds} s per page, interleaved; "
        f"load average {before} before, {loadavg()} after (2 cores).\n"
    )
    print("| page | req/s | p50 ms | x bare (req/s) | x bare (p50) |")
    print("|---|---|---|---|---|")
    bare_p50 = statistics.median(p50s["bare"])
    for target in pages:
        rate, p50 = statistics.median(rates[target.key]), statistics.median(p50s[target.key])
        print(f"| {target.name} | {rate:,.1f} | {p50:,.1f} | {bare / rate:,.1f} | {p50 / bare_p50:,.1f} |")


if __name__ == "__main__":
    main()
