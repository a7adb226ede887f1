"""`make run`'s script (bin/dev) stops its worker when the web server stops, and never hangs on a busy one.

The worker and the web server are stand-ins (shell scripts in a copy of the project's layout): the
worker records the signals it gets, and a busy one ignores the polite one, as a Celery worker in the
middle of a long audit step does (a warm shutdown waits for the step to end).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = """#!{python}
# stand-in for celery (Python, which may handle signals a background job inherits ignored, as celery
# does): records each signal; a busy one ignores TERM as a worker finishing a long task does
import signal, sys, time
def record(name, leave):
    def handler(*_):
        with open("signals", "a") as out:
            out.write(name + "\\n")
        if leave:
            sys.exit(0)
    return handler
signal.signal(signal.SIGTERM, record("TERM", not {busy}))
signal.signal(signal.SIGQUIT, record("QUIT", True))
open("ready", "w").close()  # its signals are handled from here on
while True:
    time.sleep(0.05)
"""

SERVER = """#!/usr/bin/env bash
# stand-in for the web server: up until the worker is (at most 20 s), then stopped (as by Ctrl-C)
for _ in $(seq 200); do [ -e ready ] && break; sleep 0.1; done
"""


def _project(tmp_path: Path, *, busy: bool) -> Path:
    (tmp_path / "bin").mkdir()
    shutil.copy(ROOT / "bin" / "dev", tmp_path / "bin" / "dev")
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    for name, text in (("celery", WORKER.format(python=sys.executable, busy=busy)), ("python", SERVER)):
        (venv / name).write_text(text)
        (venv / name).chmod(0o755)
    return tmp_path


def _run(project: Path) -> tuple[subprocess.CompletedProcess[str], float, list[str]]:
    started = time.monotonic()
    process = subprocess.Popen(
        ["bash", str(project / "bin" / "dev")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WORKER_GRACE": "1"},
        start_new_session=True,  # its own process group: nothing of it outlives the test
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    signals = (project / "signals").read_text().split() if (project / "signals").exists() else []
    return done, time.monotonic() - started, signals


def test_an_idle_worker_is_stopped_politely_with_the_server(tmp_path: Path) -> None:
    done, seconds, signals = _run(_project(tmp_path, busy=False))
    assert signals == ["TERM"]
    assert "still busy" not in done.stdout
    assert seconds < 5


def test_a_busy_worker_gets_its_grace_then_is_stopped_cold_instead_of_hanging(tmp_path: Path) -> None:
    done, seconds, signals = _run(_project(tmp_path, busy=True))
    assert signals == ["TERM", "QUIT"]  # warm first, cold once the grace (1 s here) is over
    assert "The worker is still busy after 1 s: stopping it now" in done.stdout
    assert 1 <= seconds < 10


def test_a_grace_that_is_not_a_whole_number_is_refused_before_anything_starts(tmp_path: Path) -> None:
    project = _project(tmp_path, busy=False)
    done = subprocess.run(
        ["bash", str(project / "bin" / "dev")],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "WORKER_GRACE": "1.5"},
    )
    assert done.returncode == 2 and "WORKER_GRACE must be a whole number of seconds" in done.stderr
    assert not (project / "ready").exists()  # no worker was started
