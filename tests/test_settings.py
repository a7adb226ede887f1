"""Configuration: production passes Django's deployment checklist; bad values stop start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "k" * 20 + "production-like-secret-for-the-deploy-check-only-0123456789",
    "ALLOWED_HOSTS": "review.example.org",
    "DATABASE_URL": "postgres://misyn@db.example.org:5432/misyn",
    "REDIS_URL": "redis://redis.example.org:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_with_nothing_silenced() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **GOOD_PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be set"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must list"),
        ({"DATABASE_URL": ""}, "Production needs DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL must be a postgres:// URL"),
        ({"SECURE_SSL_REDIRECT": "maybe"}, "SECURE_SSL_REDIRECT='maybe' is not a boolean"),
        ({"EVIDENCE_MAX_MB": "lots"}, "EVIDENCE_MAX_MB='lots' is not a whole number"),
        ({"REDIS_URL": "amqp://x"}, "Broker URL must be redis://"),
        ({"CELERY_VISIBILITY_TIMEOUT": "600"}, "must stay below CELERY_VISIBILITY_TIMEOUT (600 s)"),
    ],
)
def test_malformed_configuration_stops_start_up_naming_the_variable(override: dict[str, str], message: str) -> None:
    result = manage("check", **{**GOOD_PRODUCTION, **override})
    assert result.returncode != 0
    assert message in result.stderr


def test_demo_data_is_refused_under_production_settings() -> None:
    result = manage("setup_demo", **GOOD_PRODUCTION)
    assert result.returncode != 0
    assert "never created under production settings" in result.stderr


def test_models_and_migrations_agree() -> None:
    result = manage("makemigrations", "--check", "--dry-run", DJANGO_SETTINGS_MODULE="config.settings.test")
    assert result.returncode == 0, result.stdout + result.stderr
