# MISyn Review: production image (gunicorn web, celery worker and beat all run from it).
# Build:  docker build -t misyn-review .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    PRIVATE_STORAGE_ROOT=/app/var/private

# Unprivileged runtime user. The code stays owned by root (read-only for the app);
# only /app/var (static root, private uploads or their cache, celery beat schedule) is writable by it.
RUN groupadd --system --gid 1000 app \
 && useradd --system --uid 1000 --gid app --home-dir /app --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first so this layer is cached while only code changes.
# All pinned packages ship manylinux wheels, so no compiler is needed.
COPY requirements.txt .
# WeasyPrint (decision letters) draws text with pango; DejaVu is the letters' font.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --upgrade pip && pip install -r requirements.txt

COPY . .

# Collect static files at build time (whitenoise serves them; STATIC_ROOT defaults to
# /app/var/static). Production settings need a secret key of >= 50 chars, ALLOWED_HOSTS and
# a postgres:// DATABASE_URL to import (nothing connects). These throwaway values exist only
# for this RUN step, not at runtime; the real SECRET_KEY comes from docker-compose / env.
ARG BUILD_SECRET_KEY=collectstatic-only-build-time-placeholder-not-a-real-secret-key-0000
RUN SECRET_KEY="${BUILD_SECRET_KEY}" \
    ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build:build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/var/private /app/var/run /app/var/cache \
 && chown -R app:app /app/var

# Private uploads when they are kept on the filesystem (PRIVATE_STORAGE_BACKEND=filesystem, one
# host): mount a named volume here. With object storage (PRIVATE_STORAGE_BACKEND=s3, the compose
# stack) this stays empty and /app/var/cache holds this container's bounded cache of them.
VOLUME ["/app/var/private"]

USER app

EXPOSE 8000

CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "600", "--access-logfile", "-"]
