"""Shared fixtures.

MISYN_REQUIRE_ALL=1 (set by .ci/run) turns every "service not available" skip into a
failure, so CI cannot pass while quietly skipping the tests that need PostgreSQL,
Redis or chromium.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from reviews.models import GuidelineItem
from reviews.services.catalogue import catalogue_load
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory, ReviewerFactory

REQUIRE_ALL = os.environ.get("MISYN_REQUIRE_ALL") == "1"
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")


def require(condition: bool, reason: str) -> None:
    """Skip on a laptop without the service; fail in CI, where everything must run."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"MISYN_REQUIRE_ALL=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("browser"):
            item.fixturenames.append("_needs_chromium")
        if item.get_closest_marker("postgres"):
            item.fixturenames.append("_needs_postgres")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove this run's filesystem broker folder and cache (config.settings.test gives each run its own)."""
    from django.conf import settings

    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    if folder and f"test-broker/{settings.TEST_RUN}" in folder:
        shutil.rmtree(Path(folder).parent, ignore_errors=True)
    clear_run_cache()
    if "FileBasedCache" in settings.CACHES["default"]["BACKEND"]:
        shutil.rmtree(settings.CACHES["default"]["LOCATION"], ignore_errors=True)


def clear_run_cache() -> None:
    """Empty this run's cache, and only it: on Redis the keys under the run's prefix (clearing
    the whole database would take a dashboard's or another run's counters with it)."""
    from django.core.cache import cache

    if "RedisCache" in settings.CACHES["default"]["BACKEND"]:
        client = cache._cache.get_client(None, write=True)  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    """Each test starts with no throttle counted (the limits themselves are production's)."""
    clear_run_cache()


@pytest.fixture
def _needs_chromium() -> None:
    require(CHROMIUM.exists() and shutil.which("chromium") is not None, "Debian's chromium is not installed")


@pytest.fixture
def _needs_postgres() -> None:
    require(connection.vendor == "postgresql", "DATABASE_URL does not point at PostgreSQL")


# Live workers: separate processes on the test's own database, private storage and broker,
# in their own process group so that a test can kill one whole. Short leases and a fast
# reconciler (celery beat inside the worker) let fault tests finish in seconds.
def _worker_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PRIVATE_STORAGE_ROOT": str(settings.PRIVATE_STORAGE_ROOT),
        "AUDIT_LEASE_SECONDS": "30",
        "AUDIT_RECONCILE_SECONDS": "2",
        "AUDIT_QUEUED_RESEND_SECONDS": "5",
        **extra,
    }
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = str(name)
    else:
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        env["DATABASE_URL"] = f"{base}/{name}"
    return env


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    workers: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(workers)}.log", "wb")  # noqa: SIM115 (closed with the process)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "--schedule", str(tmp_path / f"beat-{len(workers)}"),
             "-c", "2", "--pool", "prefork", "-n", f"live{len(workers)}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=_worker_env(**extra), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)


@pytest.fixture
def catalogue(db):
    version, _ = catalogue_load()
    return version


@pytest.fixture
def researcher(db):
    return ResearcherFactory(full_name="Rosa Researcher")


@pytest.fixture
def other_researcher(db):
    return ResearcherFactory(full_name="Otto Other")


@pytest.fixture
def reviewer(db):
    return ReviewerFactory(full_name="Rita Reviewer")


@pytest.fixture
def admin_user(db):
    return AdminFactory(full_name="Ada Admin")


@pytest.fixture
def project(catalogue, researcher):
    return ProjectFactory(owner=researcher, guideline_version=catalogue, title="Secret brain MRI project")


@pytest.fixture
def items(catalogue):
    return {item.code: item for item in GuidelineItem.objects.filter(version=catalogue)}
