"""One person on one machine: SQLite (unless DATABASE_URL), filesystem broker, DEBUG on."""

from config import env
from config.settings.base import *  # noqa: F403 (settings modules extend the base namespace)

DEBUG = env.env_bool("DEBUG", True)
SECRET_KEY = env.env_str("SECRET_KEY") or "local-development-only-not-secret"
ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# WhiteNoise serves straight from the app folders while developing.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 (from the base settings)

# A receiver on this machine is the usual first webhook while developing.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", True)
