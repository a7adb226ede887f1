"""Every environment variable the project reads, read here and nowhere else.

Values are parsed strictly: a malformed value stops start-up with a message that
names the variable, rather than surprising someone later (as healthchecks does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use one of: true, false, 1, 0, yes, no)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below its minimum of {minimum}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default or [])
    return [part.strip() for part in raw.split(",") if part.strip()]


def site_url() -> tuple[str, bool]:
    """(SITE_URL, whether it was configured). SITE_URL is the address people open the site at,
    for links in emails: "https://review.example.org" (a path prefix is allowed). Unset, it
    is the development server's address, http://127.0.0.1:$PORT (bin/dev's PORT, 8000 by
    default), and config.site prefers the address requests actually arrive at."""
    raw = env_str("SITE_URL")
    if not raw:
        port = env_int("PORT", 8000, minimum=1)
        return f"http://127.0.0.1:{port}", False
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ImproperlyConfigured(f"SITE_URL={raw!r} is not a site address like https://review.example.org")
    try:
        parts.port  # noqa: B018 (reading it validates the port)
    except ValueError:
        raise ImproperlyConfigured(f"SITE_URL={raw!r} has an invalid port") from None
    return raw.rstrip("/"), True


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return value


def env_path(name: str, default: Path) -> Path:
    raw = env_str(name)
    return Path(raw).expanduser().resolve() if raw else default


VAR_DIR = env_path("MISYN_VAR_DIR", BASE_DIR / "var")


def database() -> dict[str, Any]:
    """DATABASE_URL selects PostgreSQL (through psycopg2); without it, SQLite under var/."""
    url = env_str("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(env_path("SQLITE_PATH", VAR_DIR / "misyn.sqlite3")),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    if not url.startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, got scheme {url.split(':', 1)[0]!r}")
    config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True)
    config["ENGINE"] = "django.db.backends.postgresql"
    return dict(config)


def broker(*, folder_name: str = "broker") -> tuple[str, dict[str, Any]]:
    """REDIS_URL or CELERY_BROKER_URL selects Redis; none means kombu's filesystem transport under var/."""
    url = env_str("CELERY_BROKER_URL") or env_str("REDIS_URL")
    if url:
        if not url.startswith(("redis://", "rediss://")):
            raise ImproperlyConfigured(f"Broker URL must be redis:// or rediss://, got scheme {url.split(':', 1)[0]!r}")
        return url, {
            "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=10),
            # A broker that is down or hangs holds a web request for seconds, not minutes
            # (config.broker); the worker's own polling waits 1 s at a time, well below these.
            "socket_connect_timeout": 2,
            "socket_timeout": 3,
        }
    folder = VAR_DIR / folder_name
    return "filesystem://localhost//", {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


def cache(*, folder_name: str = "cache", key_prefix: str = "misyn") -> dict[str, Any]:
    """The shared cache (throttle counters): Redis beside the broker, else files under var/.

    Redis gets its own database number (CACHE_REDIS_DB; by default 1, or 2 when the broker
    uses 1), never the broker's: clearing a cache flushes its whole database. The file cache
    works across the dev server and worker processes, but its increments are not atomic.
    """
    url = env_str("CELERY_BROKER_URL") or env_str("REDIS_URL")
    if url.startswith(("redis://", "rediss://")):
        parts = urlsplit(url)
        db_path = parts.path.strip("/")
        broker_db = int(db_path) if db_path.isdigit() else 0
        db = env_int("CACHE_REDIS_DB", 2 if broker_db == 1 else 1)
        if db == broker_db:
            raise ImproperlyConfigured(f"CACHE_REDIS_DB={db} is the broker's database; give the cache its own")
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": urlunsplit(parts._replace(path=f"/{db}")),
            "KEY_PREFIX": key_prefix,
        }
    return {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / folder_name),
        "KEY_PREFIX": key_prefix,
    }
