"""A real Celery worker on the configured broker: Redis in CI, kombu's filesystem transport otherwise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app
from tests.conftest import REQUIRE_ALL, require

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.live
def test_worker_starts_on_the_configured_broker_and_answers() -> None:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-c",
            "1",
            "--pool",
            "prefork",
            "-n",
            "misyn-test@%h",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        replies: list[dict] = []
        deadline = time.monotonic() + 60
        while not replies and time.monotonic() < deadline and worker.poll() is None:
            replies = app.control.ping(timeout=1.0)
        assert worker.poll() is None, "the worker exited early"
        assert any(name.startswith("misyn-test@") for reply in replies for name in reply), replies
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        output = worker.communicate(timeout=30)[0].decode()
    assert worker.returncode == 0, output
    assert settings.CELERY_BROKER_URL.split(":")[0] in output, output


def test_ci_runs_against_postgresql_and_redis() -> None:
    """In CI (MISYN_REQUIRE_ALL=1) the suite must really be on PostgreSQL and Redis."""
    from django.db import connection

    require(REQUIRE_ALL, "only meaningful in CI, where MISYN_REQUIRE_ALL=1")
    assert connection.vendor == "postgresql"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
