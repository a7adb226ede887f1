"""Settings shared by every environment. Environment variables come from config.env only."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config import env
from config.storage import private_storage_settings

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
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "reviews",
    "audits",
    "letters",
    "oversight",
    "public",
    "api",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside the request cap, so that its refusals carry the same headers as every page.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the session and CSRF middleware: the CSRF check parses the body (reviews.middleware).
    "reviews.middleware.RequestCapMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Links in emails use the address requests arrive at, unless SITE_URL is set.
    "config.site.SiteOriginMiddleware",
    # A refusal of the method (405) as a page of the site; 403s carry their reason.
    "reviews.views.errors.MethodNotAllowedMiddleware",
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
# Renders that template with the wait in words ("15 minutes"), not django-axes' ISO "PT15M".
AXES_LOCKOUT_CALLABLE = "reviews.views.accounts.locked_out"
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
    # PRIVATE_STORAGE_BACKEND=filesystem (default: PRIVATE_STORAGE_ROOT) or s3 (config.storage).
    "default": private_storage_settings(root=PRIVATE_STORAGE_ROOT),
    "private": private_storage_settings(root=PRIVATE_STORAGE_ROOT),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# This host's copies of privately stored files when they live in object storage
# (config.storage.local_path); least recently used copies go past the bound.
PRIVATE_CACHE_DIR = env.env_path("PRIVATE_CACHE_DIR", VAR_DIR / "private-cache")
PRIVATE_CACHE_MAX_MB = env.env_int("PRIVATE_CACHE_MAX_MB", 4096, minimum=1)
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Upload limits: the per-file cap is enforced while the request streams (reviews.uploads).
EVIDENCE_MAX_BYTES = env.env_int("EVIDENCE_MAX_MB", 25, minimum=1) * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "reviews.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Files Django parses from one request; past it the form is refused whole (TooManyFilesSent,
# which each upload view turns into its page saying why). The image-set page takes a folder's
# worth of loose images, this less its three side files (audits.forms); every other form keeps
# its own smaller count (reviews.forms.MAX_FILES_PER_ANSWER). A body over
# FILE_UPLOAD_MAX_MEMORY_SIZE streams each file to a temporary file (one open descriptor each,
# memory stays bounded), and its bytes stay within REQUEST_LIMITS and UPLOAD_LIMITS.
IMAGESET_UPLOAD_MAX_LOOSE_FILES = 500
DATA_UPLOAD_MAX_NUMBER_FILES = IMAGESET_UPLOAD_MAX_LOOSE_FILES + 3
# Only the image-set uploads may carry that many: every other view is refused past Django's own
# default of 10 files while the body is parsed (reviews.uploads.CappedUploadHandler, by view name).
UPLOAD_FILE_COUNTS = {"imageset-upload": DATA_UPLOAD_MAX_NUMBER_FILES}
UPLOAD_FILE_COUNT_DEFAULT = 10
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
# Links in emails point here (the address people open the dashboard at). Unset, links use the
# address requests arrive at (config.site), else the development server's (PORT).
SITE_URL, SITE_URL_CONFIGURED = env.site_url()
# An invitation to an account an admin created: its link sets the first password.
INVITATION_DAYS = env.env_int("INVITATION_DAYS", 7, minimum=1)

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
    # Ingestion (audits/services/ingest.py): resend lost ingest messages, retry or fail lost workers.
    "reconcile-ingests": {"task": "audits.reconcile_ingests", "schedule": env.env_int("AUDIT_RECONCILE_SECONDS", 60)},
    # Review reminders (due soon, overdue) and the notification-email reconciler.
    "send-review-reminders": {
        "task": "reviews.send_review_reminders",
        "schedule": env.env_int("REVIEW_REMINDER_SECONDS", 3600, minimum=1),
    },
}
# Files no row needs any more (a delete that failed while the store was down, rows deleted in bulk)
# are deleted by a daily sweep (config.storage.sweep) once this old: longer than any upload or task
# step takes to write a file before the row that names it commits.
PRIVATE_SWEEP_GRACE_HOURS = env.env_int("PRIVATE_SWEEP_GRACE_HOURS", 24, minimum=1)
CELERY_BEAT_SCHEDULE["sweep-private-storage"] = {"task": "audits.sweep_storage", "schedule": 24 * 3600}
CELERY_WORKER_MAX_TASKS_PER_CHILD = 50
IMAGE_UPLOAD_MAX_BYTES = env.env_int("IMAGE_UPLOAD_MAX_MB", 2048, minimum=1) * 1024 * 1024
# Per URL name, a larger per-file cap than evidence files have (reviews.uploads.CappedUploadHandler).
UPLOAD_LIMITS = {"imageset-upload": IMAGE_UPLOAD_MAX_BYTES}
# Archive extraction (audits/archives.py): an archive is refused whole past these limits,
# checked on its headers first and again on the bytes actually written.
ARCHIVE_MAX_MEMBERS = env.env_int("ARCHIVE_MAX_MEMBERS", 20000, minimum=1)
ARCHIVE_MAX_TOTAL_BYTES = env.env_int("ARCHIVE_MAX_TOTAL_MB", 4096, minimum=1) * 1024 * 1024
# The ratio holds for each member and for the whole archive (expanded bytes / archive bytes).
ARCHIVE_MAX_RATIO = env.env_int("ARCHIVE_MAX_RATIO", 100, minimum=1)
# Members below this size are not held to the ratio: a blank slice compresses ~1000:1 and is harmless.
ARCHIVE_RATIO_FLOOR_BYTES = env.env_int("ARCHIVE_RATIO_FLOOR_KB", 1024, minimum=0) * 1024
# A whole archive that expands to less than this is not held to the ratio (a few blank slices);
# past it, 1,000 members each just under the member floor are refused as the bomb they are.
ARCHIVE_RATIO_FLOOR_TOTAL_BYTES = env.env_int("ARCHIVE_RATIO_FLOOR_TOTAL_MB", 32, minimum=0) * 1024 * 1024

# Ingestion (audits/services/ingest.py): extraction, validation and reading run in the worker.
# Every file of one upload together (archives expanded, loose files as they are), and their number.
UPLOAD_MAX_EXPANDED_BYTES = env.env_int("UPLOAD_MAX_EXPANDED_MB", 4096, minimum=1) * 1024 * 1024
UPLOAD_MAX_FILES = env.env_int("UPLOAD_MAX_FILES", 20000, minimum=1)
# The largest pixel data one NIfTI or DICOM file may declare (dimensions x bytes per voxel),
# refused before any byte of it is decompressed or decoded.
IMAGE_MAX_DECLARED_BYTES = env.env_int("IMAGE_MAX_DECLARED_MB", 512, minimum=1) * 1024 * 1024
# An ingest nobody claimed is sent again after this; one whose worker vanished is retried
# AUDIT_MAX_ATTEMPTS times (its lease is AUDIT_LEASE_SECONDS, kept by a heartbeat).
INGEST_QUEUED_RESEND_SECONDS = env.env_int("INGEST_QUEUED_RESEND_SECONDS", 120, minimum=5)

# A task that outlives the broker's visibility timeout is delivered again while it still
# runs (TESTING.md measured it running three times): keep every task limit below it.
if "visibility_timeout" in CELERY_BROKER_TRANSPORT_OPTIONS and (
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= AUDIT_TASK_TIME_LIMIT + 60
):
    raise ImproperlyConfigured(
        f"AUDIT_TASK_TIME_LIMIT ({AUDIT_TASK_TIME_LIMIT} s, plus 60 s of grace) must stay below "
        f"CELERY_VISIBILITY_TIMEOUT ({CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']} s)"
    )

# Throttling, registration and sessions
# The shared cache holds the throttle counters, so a limit holds across gunicorn workers and
# hosts: Redis (its own database number, config.env.cache) in production, files otherwise.
CACHES = {"default": env.cache()}
# Allowed requests per window, (count, seconds), per scope (reviews.throttling). Every attempt
# counts, so spraying many names from one address is held, except "login-username", which
# counts wrong passwords only: an attacker's attempts must not lock a reviewer out. It stays
# above AXES_FAILURE_LIMIT, so one address is locked by django-axes long before it could
# use up a name's allowance; only guesses from many addresses at once meet this limit.
THROTTLE_RATES: dict[str, tuple[int, int]] = {
    "login-address": (env.env_int("THROTTLE_LOGIN_PER_MINUTE", 10, minimum=1), 60),
    "login-username": (env.env_int("THROTTLE_LOGIN_USERNAME_PER_MINUTE", 10, minimum=1), 60),
    "register-address": (env.env_int("THROTTLE_REGISTER_PER_HOUR", 5, minimum=1), 3600),
    "password-reset-address": (env.env_int("THROTTLE_PASSWORD_RESET_PER_HOUR", 5, minimum=1), 3600),
    "password-reset-email": (env.env_int("THROTTLE_PASSWORD_RESET_PER_HOUR", 5, minimum=1), 3600),
    "verification-resend-user": (env.env_int("THROTTLE_VERIFICATION_RESEND_PER_HOUR", 3, minimum=1), 3600),
    "sign-user": (env.env_int("THROTTLE_SIGN_PER_MINUTE", 10, minimum=1), 60),
    "upload-user": (env.env_int("THROTTLE_UPLOAD_PER_HOUR", 20, minimum=1), 3600),
    "audit-run-user": (env.env_int("THROTTLE_AUDIT_RUN_PER_HOUR", 30, minimum=1), 3600),
    # Webhooks' "Send test event" and "Redeliver" (webhooks app): each makes an outgoing POST.
    "webhook-send-user": (env.env_int("THROTTLE_WEBHOOK_SEND_PER_HOUR", 30, minimum=1), 3600),
    # The public objection channel (public app): anyone may write, so per address.
    "objection-address": (env.env_int("THROTTLE_OBJECTION_PER_HOUR", 5, minimum=1), 3600),
    # The public letter verification page (letters app): looked up by digest, so per address.
    "verify-address": (env.env_int("THROTTLE_VERIFY_PER_MINUTE", 30, minimum=1), 60),
}
if THROTTLE_RATES["login-username"][0] <= AXES_FAILURE_LIMIT:
    raise ImproperlyConfigured(
        "THROTTLE_LOGIN_USERNAME_PER_MINUTE must stay above AXES_FAILURE_LIMIT, "
        "or a single address could keep a named user from logging in"
    )
# The REST API (api/): personal bearer tokens only (no session cookies, so no CSRF), JSON only
# (the browsable API's inline scripts would need a weaker CSP; the documentation page is
# Swagger UI from our static files), pages of 50, throttles on the default cache.
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.TokenScopeAllows"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",  # DRF's, with a body nested too deep refused as a parse error (400), not a 500
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.ApiUserThrottle",
        "api.throttling.ApiAnonThrottle",
        "api.throttling.ApiScopedThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api-user": f"{env.env_int('API_THROTTLE_USER_PER_MINUTE', 600, minimum=1)}/min",
        "api-anonymous": f"{env.env_int('API_THROTTLE_ANONYMOUS_PER_MINUTE', 60, minimum=1)}/min",
        "api-upload": f"{env.env_int('API_THROTTLE_UPLOAD_PER_MINUTE', 120, minimum=1)}/min",
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "MISyn Review API",
    "DESCRIPTION": "Projects, checklists, image sets, audits, rounds and the public register of MISyn Review. "
    "Send a personal token as “Authorization: Bearer msr_…”.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The errors every operation can answer (bad token, read-only token, not visible, throttled).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.add_common_errors"],
}
# Names of the schema's enums that several components share (image sets, uploads, audit runs).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "ImageSetRoleEnum": "audits.enums.SetRole",
        "ImageSetStatusEnum": "audits.enums.SetStatus",
        "AuditRunStatusEnum": "audits.enums.RunStatus",
        "UploadStatusEnum": "api.enums.UploadStatus",
        "AuditVerdictEnum": ["pass", "warn", "fail", "not_computable"],
        "ProjectStatusEnum": "reviews.enums.ProjectStatus",
        "AnswerStatusEnum": "reviews.enums.AnswerStatus",
    }
)
# Personal API tokens: the longest expiry a user may choose, in days.
API_TOKEN_MAX_DAYS = env.env_int("API_TOKEN_MAX_DAYS", 365, minimum=1)

# The client address (reviews.http.client_ip, for the throttles and django-axes): REMOTE_ADDR,
# unless the site sits behind this many reverse proxies that each append to X-Forwarded-For.
TRUSTED_PROXY_HOPS = env.env_int("TRUSTED_PROXY_HOPS", 0)
AXES_CLIENT_IP_CALLABLE = "reviews.http.client_ip"

# open: anyone may register as a researcher; approval: an admin approves each new researcher
# before they can create projects; closed: accounts come from admins only. Either way a new
# researcher confirms their email address before creating projects or uploading.
# The board's name, printed on decision letters (letters app).
BOARD_NAME = env.env_str("BOARD_NAME", "MISyn Review")

REGISTRATION_MODE = env.env_choice("REGISTRATION_MODE", "open", ("open", "approval", "closed"))
EMAIL_VERIFICATION_MAX_AGE = env.env_int("EMAIL_VERIFICATION_HOURS", 72, minimum=1) * 3600
PASSWORD_RESET_TIMEOUT = env.env_int("PASSWORD_RESET_MINUTES", 60, minimum=5) * 60

# A session ends after a working day, however active, and after an idle hour
# (reviews.sessions.IdleSessionMiddleware); pages polling a run's or an ingest's progress are not activity.
SESSION_COOKIE_AGE = env.env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
# A browser someone signed in from keeps a signed cookie naming them (reviews.throttling): its
# wrong passwords are not counted against the name, so guesses from many other addresses
# cannot keep that person out of their own browser (OWASP's "device cookies").
LOGIN_DEVICE_COOKIE_DAYS = env.env_int("LOGIN_DEVICE_COOKIE_DAYS", 90, minimum=1)
SESSION_IDLE_SECONDS = env.env_int("SESSION_IDLE_SECONDS", 3600, minimum=60)
SESSION_PASSIVE_URL_NAMES = ("audit-run-status", "imageset-status")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.messages.middleware.MessageMiddleware") + 1,
    "reviews.sessions.IdleSessionMiddleware",
)

# Request caps and outages
# A send to a broker that is down or hangs gives up within about 3 s (config.broker and the
# socket timeouts of config.env.broker); the row it was for stays queued for the reconciler.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# The whole request body, judged on its Content-Length before a byte is read
# (reviews.middleware.RequestCapMiddleware, first of all middleware): 413 past the cap of its
# URL name, else REQUEST_MAX_BYTES. An image set's request carries at most one file of
# IMAGE_UPLOAD_MAX_BYTES (several files share it) plus three side files of 5 MB
# (audits.services.uploads.SIDE_FILE_MAX_BYTES); an answer up to five evidence files
# (reviews.forms.MAX_FILES_PER_ANSWER); every other form a few times what Django parses in memory.
REQUEST_MAX_BYTES = env.env_int("REQUEST_MAX_MB", 8, minimum=1) * 1024 * 1024
REQUEST_LIMITS = {
    "imageset-upload": IMAGE_UPLOAD_MAX_BYTES + 16 * 1024 * 1024,
    "answer-edit": 5 * EVIDENCE_MAX_BYTES + 1024 * 1024,
}
# An upload is parsed only for a signed-in user who may change what the URL names
# (url name -> the django-rules permission on the project of its `pk`).
UPLOAD_PERMISSIONS = {"imageset-upload": "reviews.change_project", "answer-edit": "reviews.change_project"}
# A visitor who is not signed in may send no more than Django parses in memory.
ANONYMOUS_REQUEST_MAX_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
CSRF_FAILURE_VIEW = "reviews.views.errors.csrf_failure"

# Resumable uploads through the API (api.services.uploads): one file in chunks of at most
# API_UPLOAD_CHUNK_MAX_BYTES per request, at most IMAGE_UPLOAD_MAX_BYTES in all; an upload
# not completed within API_UPLOAD_EXPIRY_HOURS is deleted by the beat task "api.expire_uploads".
API_UPLOAD_CHUNK_MAX_BYTES = env.env_int("API_UPLOAD_CHUNK_MAX_MB", 64, minimum=1) * 1024 * 1024
API_UPLOAD_EXPIRY_HOURS = env.env_int("API_UPLOAD_EXPIRY_HOURS", 24, minimum=1)
# What one user's open and complete-but-unused uploads may declare in all (their bytes stay on
# disk until made into a set, cancelled or expired); opening one past it is refused.
API_UPLOAD_QUOTA_BYTES = env.env_int("API_UPLOAD_QUOTA_MB", 2 * IMAGE_UPLOAD_MAX_BYTES // (1024 * 1024), minimum=1) * (
    1024 * 1024
)
CELERY_BEAT_SCHEDULE["api-expire-uploads"] = {"task": "api.expire_uploads", "schedule": 3600}
# Their chunks and the API's multipart image sets are capped and permission-checked before a
# byte is read (reviews.middleware), like the page's upload; the API's sender is its token's user.
REQUEST_LIMITS["api:upload"] = API_UPLOAD_CHUNK_MAX_BYTES
REQUEST_LIMITS["api:image-sets"] = REQUEST_LIMITS["imageset-upload"]
UPLOAD_LIMITS["api:image-sets"] = IMAGE_UPLOAD_MAX_BYTES
UPLOAD_FILE_COUNTS["api:image-sets"] = DATA_UPLOAD_MAX_NUMBER_FILES
UPLOAD_PERMISSIONS["api:upload"] = "reviews.change_project"
UPLOAD_PERMISSIONS["api:image-sets"] = "reviews.change_project"
# An evidence file through the API: one file, with the page's per-file cap (UPLOAD_LIMITS' default).
REQUEST_LIMITS["api:answer-evidence-upload"] = EVIDENCE_MAX_BYTES + 1024 * 1024
UPLOAD_PERMISSIONS["api:answer-evidence-upload"] = "reviews.change_project"
TOKEN_AUTH_NAMESPACES = frozenset({"api"})
API_REQUEST_USER = "api.authentication.request_token_user"

# Webhooks (webhooks app): deliveries signed with each hook's secret, sent by Celery after the
# change commits, retried after each of WEBHOOK_RETRY_DELAYS seconds, then failed. A hook's URL
# may not point at a private, loopback or link-local address unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES
# (the embedded default and the tests, whose receivers listen on localhost).
WEBHOOK_TIMEOUT_SECONDS = env.env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
WEBHOOK_RETRY_DELAYS = [
    int(part) for part in env.env_list("WEBHOOK_RETRY_DELAYS", ["60", "300", "1800", "7200", "21600"])
]
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
WEBHOOK_RESPONSE_KEEP_BYTES = 2048
CELERY_BEAT_SCHEDULE["webhooks-deliver-due"] = {
    "task": "webhooks.deliver_due",
    "schedule": env.env_int("WEBHOOK_RECONCILE_SECONDS", 60, minimum=1),
}

# The board dashboard's unfiltered figures: a snapshot recounted by celery beat this often
# (oversight.snapshot); one older than twice this is recounted when a reader asks for it.
BOARD_SNAPSHOT_SECONDS = env.env_int("BOARD_SNAPSHOT_SECONDS", 300, minimum=30)
CELERY_BEAT_SCHEDULE["board-snapshot"] = {
    "task": "oversight.refresh_board_snapshot",
    "schedule": BOARD_SNAPSHOT_SECONDS,
}
