"""Settings shared by every environment. Environment variables come from config.env only."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config import env

BASE_DIR = env.BASE_DIR
VAR_DIR = env.VAR_DIR

SECRET_KEY = env.env_str("SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS")

# Set by the production module; the demo command refuses to run when it is true.
IS_PRODUCTION = False

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "rules.apps.AutodiscoverRulesConfig",
    "axes",
    "csp",
    "reviews",
    "audits",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so that it sees the final response of a login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "reviews.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "reviews.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# django-axes: lock out per user *and* address combination, for a finite cool-off.
AXES_FAILURE_LIMIT = env.env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env.env_int("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.env_path("STATIC_ROOT", VAR_DIR / "static")

# Uploaded evidence and image sets: outside any served folder, reached only through
# permission-checked views. There is no MEDIA_URL on purpose.
PRIVATE_STORAGE_ROOT = env.env_path("PRIVATE_STORAGE_ROOT", VAR_DIR / "private")
STORAGES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(PRIVATE_STORAGE_ROOT), "base_url": None},
    },
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(PRIVATE_STORAGE_ROOT), "base_url": None},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Upload limits: the per-file cap is enforced while the request streams (reviews.uploads).
EVIDENCE_MAX_BYTES = env.env_int("EVIDENCE_MAX_MB", 25, minimum=1) * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "reviews.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_NUMBER_FILES = 10
DATA_UPLOAD_MAX_NUMBER_FIELDS = 500
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# No inline script or style anywhere: every asset is served from our static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

EMAIL_BACKEND = env.env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env.env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env.env_str("DEFAULT_FROM_EMAIL", "MISyn Review <noreply@localhost>")
# Links in emails point here (the address people open the dashboard at).
SITE_URL = env.env_str("SITE_URL", "http://127.0.0.1:8000")

CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = env.broker()
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Audit jobs (audits/services/runs.py). Task limits stay below the broker's visibility timeout.
AUDIT_CHUNK_FILES = env.env_int("AUDIT_CHUNK_FILES", 250, minimum=1)
AUDIT_LEASE_SECONDS = env.env_int("AUDIT_LEASE_SECONDS", 300, minimum=5)
AUDIT_MAX_ATTEMPTS = env.env_int("AUDIT_MAX_ATTEMPTS", 3, minimum=1)
AUDIT_QUEUED_RESEND_SECONDS = env.env_int("AUDIT_QUEUED_RESEND_SECONDS", 300, minimum=5)
AUDIT_TASK_TIME_LIMIT = env.env_int("AUDIT_TASK_TIME_LIMIT", 1200, minimum=1)
AUDIT_MEMORY_LIMIT_MB = env.env_int("AUDIT_MEMORY_LIMIT_MB", 6144, minimum=256)
CELERY_BEAT_SCHEDULE = {
    "reconcile-audit-runs": {"task": "audits.reconcile_runs", "schedule": env.env_int("AUDIT_RECONCILE_SECONDS", 60)},
    # Review reminders (due soon, overdue) and the notification-email reconciler.
    "send-review-reminders": {
        "task": "reviews.send_review_reminders",
        "schedule": env.env_int("REVIEW_REMINDER_SECONDS", 3600, minimum=1),
    },
}
CELERY_WORKER_MAX_TASKS_PER_CHILD = 50
IMAGE_UPLOAD_MAX_BYTES = env.env_int("IMAGE_UPLOAD_MAX_MB", 2048, minimum=1) * 1024 * 1024
# Per URL name, a larger per-file cap than evidence files have (reviews.uploads.CappedUploadHandler).
UPLOAD_LIMITS = {"imageset-upload": IMAGE_UPLOAD_MAX_BYTES}
# Archive extraction (audits/archives.py): an archive is refused whole past these limits,
# checked on its headers first and again on the bytes actually written.
ARCHIVE_MAX_MEMBERS = env.env_int("ARCHIVE_MAX_MEMBERS", 20000, minimum=1)
ARCHIVE_MAX_TOTAL_BYTES = env.env_int("ARCHIVE_MAX_TOTAL_MB", 8192, minimum=1) * 1024 * 1024
ARCHIVE_MAX_RATIO = env.env_int("ARCHIVE_MAX_RATIO", 200, minimum=1)
# Members below this size are not held to the ratio: a blank slice compresses ~1000:1 and is harmless.
ARCHIVE_RATIO_FLOOR_BYTES = env.env_int("ARCHIVE_RATIO_FLOOR_KB", 1024, minimum=0) * 1024

# A task that outlives the broker's visibility timeout is delivered again while it still
# runs (TESTING.md measured it running three times): keep every task limit below it.
if "visibility_timeout" in CELERY_BROKER_TRANSPORT_OPTIONS and (
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= AUDIT_TASK_TIME_LIMIT + 60
):
    raise ImproperlyConfigured(
        f"AUDIT_TASK_TIME_LIMIT ({AUDIT_TASK_TIME_LIMIT} s, plus 60 s of grace) must stay below "
        f"CELERY_VISIBILITY_TIMEOUT ({CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']} s)"
    )
