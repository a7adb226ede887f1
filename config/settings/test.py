"""The test suite: the same stack as local, fast hashing, temporary storage per run."""

import tempfile
from pathlib import Path

from config import env
from config.settings.base import *  # noqa: F403 (settings modules extend the base namespace)
from config.settings.base import STORAGES

SECRET_KEY = "test-only-not-secret"  # noqa: S105 (not a real secret)
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

# Argon2 stays first so that tests see the production hasher; its cost is lowered.
PASSWORD_HASHERS = ["reviews.hashers.FastArgon2PasswordHasher"]

PRIVATE_STORAGE_ROOT = Path(tempfile.mkdtemp(prefix="misyn-test-private-"))
for _name in ("default", "private"):
    STORAGES[_name]["OPTIONS"]["location"] = str(PRIVATE_STORAGE_ROOT)

# The test suite's worker and test processes share a broker of their own, never the one
# of a dashboard running beside them (a filesystem broker lives under var/).
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = env.broker(folder_name="test-broker")

STATIC_ROOT = Path(tempfile.mkdtemp(prefix="misyn-test-static-"))
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
