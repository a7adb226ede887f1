"""The test suite: the same stack as local, fast hashing, temporary storage per run."""

import os
import tempfile
from pathlib import Path

from config import env
from config.settings.base import *  # noqa: F403 (settings modules extend the base namespace)
from config.settings.base import DATABASES, STORAGES

SECRET_KEY = "test-only-not-secret"  # noqa: S105 (not a real secret)
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

# Argon2 stays first so that tests see the production hasher; its cost is lowered.
PASSWORD_HASHERS = ["reviews.hashers.FastArgon2PasswordHasher"]

# Per run, unless given (live tests hand theirs to the worker processes they start).
PRIVATE_STORAGE_ROOT = env.env_path("PRIVATE_STORAGE_ROOT", Path("/nonexistent"))
if str(PRIVATE_STORAGE_ROOT) == "/nonexistent":
    PRIVATE_STORAGE_ROOT = Path(tempfile.mkdtemp(prefix="misyn-test-private-"))
for _name in ("default", "private"):
    if STORAGES[_name]["BACKEND"] == "django.core.files.storage.FileSystemStorage":
        STORAGES[_name]["OPTIONS"]["location"] = str(PRIVATE_STORAGE_ROOT)
PRIVATE_CACHE_DIR = env.env_path("PRIVATE_CACHE_DIR", Path("/nonexistent"))
if str(PRIVATE_CACHE_DIR) == "/nonexistent":
    PRIVATE_CACHE_DIR = Path(tempfile.mkdtemp(prefix="misyn-test-cache-"))

# The test suite's worker and test processes share a broker of their own, never the one
# of a dashboard running beside them (a filesystem broker lives under var/).
# Each test run (and the workers it starts, which inherit MISYN_TEST_RUN) gets its own
# filesystem broker and SQLite file, so two runs on one checkout never meet.
TEST_RUN = os.environ.setdefault("MISYN_TEST_RUN", str(os.getpid()))
# Under pytest-xdist each worker process is a run of its own (its broker, cache prefix and SQLite
# file); the Celery workers a live test starts inherit PYTEST_XDIST_WORKER and so land on the same.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER and not TEST_RUN.endswith(f"-{_XDIST_WORKER}"):
    TEST_RUN = f"{TEST_RUN}-{_XDIST_WORKER}"
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = env.broker(folder_name=f"test-broker/{TEST_RUN}")
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # On Redis too: every queue, result and broadcast key of the run under its own prefix, so a
    # second run on the machine (another checkout, a developer's) never takes this run's messages.
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = f"misyn-test-{TEST_RUN}:"

# Throttle counters: a cache folder of the run's own, or on Redis the run's own key prefix
# (tests/conftest.py empties it before each test; the limits stay the production ones).
CACHES = {"default": env.cache(folder_name=f"test-cache/{TEST_RUN}", key_prefix=f"misyn-test-{TEST_RUN}")}

# A file, not memory, for SQLite's test database: live tests share it with a worker process.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(env.VAR_DIR / f"test-misyn-{TEST_RUN}.sqlite3")}

STATIC_ROOT = Path(tempfile.mkdtemp(prefix="misyn-test-static-"))
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# The tests' webhook receivers listen on localhost.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", True)
