"""Stepwise settings: one module, driven by the environment.

Defaults run a first demo with nothing installed (SQLite file, a filesystem broker);
tests, CI and production set DATABASE_URL and CELERY_BROKER_URL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from annotation.core.content_policy import csp_directives

# Lets Django's generic classes be subscripted at run time (forms.ModelForm[Model]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("STEPWISE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    """A yes/no setting; a typo stops the start instead of reading as false."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use true or false")


DEBUG = env_bool("DEBUG", False)
# The key signs sessions and CSRF tokens: from SECRET_KEY, else from var/secret_key (which
# `make run` and `make test` write once, at random). Without either the site refuses to start,
# unless DEBUG is on (local development only).
SECRET_KEY_FILE = VAR_DIR / "secret_key"
SECRET_KEY = os.environ.get("SECRET_KEY", "").strip()
if not SECRET_KEY and SECRET_KEY_FILE.is_file():
    SECRET_KEY = SECRET_KEY_FILE.read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set and DEBUG is off. Set SECRET_KEY to a long random value "
            f"(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or write one to "
            f"{SECRET_KEY_FILE}, or set DEBUG=true for local development."
        )
    SECRET_KEY = "insecure-development-key-for-debug-only"
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",
    "rest_framework",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "annotation.core",
    "annotation.problems",
    "annotation.grading",
    "annotation.jobs",
    "annotation.datasets",
    "annotation.workspace",
    "annotation.llm",
    "annotation.trees",
    "annotation.evaluation",
    "annotation.training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A database lock waited for in vain (SQLite under `make run`) is a 503 with a message.
    "annotation.core.busy.DatabaseBusyMiddleware",
    # Views answer only their own methods (405 otherwise): see annotation/core/methods.py.
    "annotation.core.methods.MethodsMiddleware",
    # A limit reached (a quota on jobs) is a 429 page naming it: annotation/core/limits.py.
    "annotation.core.limits.LimitMiddleware",
    # Serves static files from the app process itself (runserver, gunicorn), no web server needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A page's upload: its size and file name checked before CSRF reads the form.
    "annotation.core.uploads.PageUploadsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "annotation.urls"
WSGI_APPLICATION = "annotation.wsgi.application"

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
            ],
            # {{ text|shown_visibly }} on every page: invisible characters in user text marked;
            # {{ ms|time_on_item }}: the time spent on an item, in seconds or minutes
            "builtins": [
                "annotation.core.templatetags.shown_visibly",
                "annotation.core.templatetags.durations",
            ],
        },
    },
]
# Forms render through the templates above: a choice's label (a model's or a prompt's name)
# shows its invisible characters too (templates/django/forms/widgets/select_option.html).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'stepwise.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default (`make run`): web and worker processes share one file. WAL lets
    # readers go on while one writer writes; a writer waits up to STEPWISE_SQLITE_TIMEOUT_S for
    # the lock (a page that waits longer gets 503, annotation/core/busy.py); IMMEDIATE takes the
    # write lock when a transaction begins, so two transactions that read then write never
    # deadlock (which SQLite reports at once as "database is locked", whatever the timeout).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": float(os.environ.get("STEPWISE_SQLITE_TIMEOUT_S", "30")),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
# Django's database sessions and model backend, each reading its row with one fixed statement.
SESSION_ENGINE = "annotation.core.sessions"
AUTHENTICATION_BACKENDS = ["annotation.core.auth_backends.UserBackend"]
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns when it is missing
WHITENOISE_USE_FINDERS = True  # serve from static/ directly; collectstatic is optional
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Request bodies (JSON, forms; uploaded files are not counted): 2.5 MB, Django's default. An
# editor's draft is far smaller (docs/annotators.md, "Limits"); more is refused with 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Uploaded files (dataset imports): at most this many bytes, refused while the request is read,
# before anything is written to disk (annotation/core/uploads.py).
STEPWISE_MAX_UPLOAD_BYTES = int(os.environ.get("STEPWISE_MAX_UPLOAD_BYTES", str(512 * 1024 * 1024)))
FILE_UPLOAD_HANDLERS = [
    "annotation.core.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# ---- Production: HTTPS and security headers (see docs/deployment.md) ----------------------
# STEPWISE_HTTPS=true when browsers reach the site over HTTPS (TLS ends at the reverse proxy in
# front of gunicorn; gunicorn trusts the proxy's X-Forwarded-Proto from FORWARDED_ALLOW_IPS, so
# Django sees https requests as secure). Then: redirect http to https, cookies only over https,
# and HSTS.
STEPWISE_HTTPS = env_bool("STEPWISE_HTTPS", False)
SECURE_SSL_REDIRECT = STEPWISE_HTTPS
SESSION_COOKIE_SECURE = STEPWISE_HTTPS
CSRF_COOKIE_SECURE = STEPWISE_HTTPS
# A year by default; try a new domain with STEPWISE_HSTS_SECONDS=3600 first, since browsers
# remember it. Preload is opt-in: it asks browsers to ship the domain as https-only.
SECURE_HSTS_SECONDS = (
    int(os.environ.get("STEPWISE_HSTS_SECONDS", "31536000")) if STEPWISE_HTTPS else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("STEPWISE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("STEPWISE_HSTS_PRELOAD", False)

# Content-Security-Policy (django-csp), enforced on every response, in development and tests
# too, so the browser tests run under the policy production has. The directives and the reasons
# for each are in annotation/core/content_policy.py.
INSTALLED_APPS.append("csp")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "annotation.core.content_policy_middleware.ContentPolicyMiddleware",
)
CONTENT_SECURITY_POLICY = {"DIRECTIVES": csp_directives(https=STEPWISE_HTTPS)}
# ---- end of production settings ------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "annotation.core.tokens.ApiTokenAuthentication",  # expiring, revocable (see below)
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "annotation.core.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "annotation.core.parsers.StrictMultiPartParser",  # file names checked
    ],
    "DEFAULT_PAGINATION_CLASS": "annotation.core.pagination.Pagination",  # ?page_size=
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["annotation.core.filters.FilterBackend"],  # no leaky HTML form
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Requests per client: anonymous ones by address, logged-in ones by user (STEPWISE_API_RATES).
    "DEFAULT_THROTTLE_CLASSES": [
        "annotation.core.throttle.AnonThrottle",
        "annotation.core.throttle.UserThrottle",
    ],
    # A service's ValidationError is a 400 naming the field, from any view.
    "EXCEPTION_HANDLER": "annotation.core.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stepwise API",
    "DESCRIPTION": "Step-level reasoning data: problems, step trees, traces, grades, jobs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page are for logged-in users (session or token), as the API is:
    # an anonymous visitor learns nothing of the API's shape (docs/security.md).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: a filesystem transport needs no server for a first run; Redis or RabbitMQ otherwise.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A message a worker took and did not acknowledge comes back after this long (a worker that
    # died): longer than any one shard takes; a duplicate does nothing (docs/workers.md).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
elif CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    # Wait for RabbitMQ to confirm each publish: a message sent while it restarts is not lost
    # silently (the publish fails, and the sweep sends it again).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Acknowledge a message when its task ends, and give it back when the worker process dies:
# work in a dead worker's hands goes to another one.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A worker holds only the message it works on, so waiting shards go to idle workers.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers keep reconnecting while the broker is down, at start and later, however long it takes.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A shard in progress when the broker connection drops finishes (its results are in
# PostgreSQL); its message is delivered again and finds the shard done.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True

# Where jobs write their files (imports uploaded, exports produced): Django storage.
STEPWISE_IMPORT_CHUNK = int(os.environ.get("STEPWISE_IMPORT_CHUNK", "2000"))
# Files from this size up are parsed in a process of their own, beside the writes
# (annotation/datasets/pipeline.py); below it, starting the process costs more than it saves.
STEPWISE_IMPORT_PROCESS_BYTES = int(
    os.environ.get("STEPWISE_IMPORT_PROCESS_BYTES", str(8 * 1024 * 1024))
)
STEPWISE_ANSWER_TIMEOUT_S = float(os.environ.get("STEPWISE_ANSWER_TIMEOUT_S", "5"))
# A running job whose heartbeat is older than this is abandoned (its worker died) and is
# picked up again; workers beat every third of it while a chunk runs.
STEPWISE_JOB_STALE_SECONDS = float(os.environ.get("STEPWISE_JOB_STALE_SECONDS", "120"))
# Autosaves commit without waiting for the disk flush (see workspace/services/saves.py);
# submits always wait for it.
STEPWISE_AUTOSAVE_ASYNC_COMMIT = env_bool("STEPWISE_AUTOSAVE_ASYNC_COMMIT", True)
# How many models a GPU worker keeps loaded (vLLM engines: one; other models: this many).
STEPWISE_MODEL_CACHE_SIZE = int(os.environ.get("STEPWISE_MODEL_CACHE_SIZE", "2"))
# Where training jobs write checkpoints and the models they register (job-<id>/ per run). With
# several GPU machines it must be storage they all mount at this path, as must the models'.
STEPWISE_MODEL_STORE = Path(os.environ.get("STEPWISE_MODEL_STORE", VAR_DIR / "models"))
# How a training job runs: in the GPU worker's own process (""), or with "accelerate" as
# `accelerate launch` child processes, STEPWISE_TRAIN_PROCESSES of them (one per GPU).
STEPWISE_TRAIN_LAUNCHER = os.environ.get("STEPWISE_TRAIN_LAUNCHER", "")
if STEPWISE_TRAIN_LAUNCHER not in ("", "accelerate"):
    raise ImproperlyConfigured(
        f"STEPWISE_TRAIN_LAUNCHER: expected empty or 'accelerate', got {STEPWISE_TRAIN_LAUNCHER!r}"
    )
STEPWISE_TRAIN_PROCESSES = int(os.environ.get("STEPWISE_TRAIN_PROCESSES", "1"))
# GRPO's completions from vLLM instead of transformers' generate (TRL's use_vllm, docs/
# training.md): "" (off), "colocate" (an engine in each training process, sharing its GPU)
# or "server" (a `trl vllm-serve` at STEPWISE_GRPO_VLLM_SERVER, e.g. http://gpu-1:8000).
STEPWISE_GRPO_VLLM = os.environ.get("STEPWISE_GRPO_VLLM", "")
if STEPWISE_GRPO_VLLM not in ("", "colocate", "server"):
    raise ImproperlyConfigured(
        f"STEPWISE_GRPO_VLLM: expected empty, 'colocate' or 'server', got {STEPWISE_GRPO_VLLM!r}"
    )
STEPWISE_GRPO_VLLM_SERVER = os.environ.get("STEPWISE_GRPO_VLLM_SERVER", "")

# Accounts: login throttling and API tokens (docs/security.md) --------------------------------
# django-axes counts failed logins on every login form (the site's, the API's, the admin's)
# per (username, client address), per username and per client address (a spray over many
# usernames from one client); the attempt that reaches a limit is refused with 429, and so is
# every later one, until no failure happened for the cool-off time. An address alone has a
# larger limit of its own (people share addresses): annotation/core/throttle.py.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *AUTHENTICATION_BACKENDS]
MIDDLEWARE = [*MIDDLEWARE, "axes.middleware.AxesMiddleware"]
AXES_HANDLER = "annotation.core.throttle.LoginFailures"
AXES_FAILURE_LIMIT = int(os.environ.get("STEPWISE_LOGIN_FAILURE_LIMIT", "20"))
STEPWISE_LOGIN_IP_FAILURE_LIMIT = int(os.environ.get("STEPWISE_LOGIN_IP_FAILURE_LIMIT", "40"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("STEPWISE_LOGIN_WINDOW_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "annotation.core.throttle.locked_out"  # 429 and how long to wait
AXES_RESET_ON_SUCCESS = False  # a success does not give an attacker a fresh count
AXES_VERBOSE = False  # no banner on every start (commands print keys on stdout)
# The client's address: REMOTE_ADDR, or the last entry of this header (e.g. X-Real-IP, or
# X-Forwarded-For where the proxy appends to it) when a reverse proxy sets it; never a header
# nobody configured. Kept as its request.META key.
_proxy_header = os.environ.get("STEPWISE_PROXY_IP_HEADER", "").strip().upper().replace("-", "_")
STEPWISE_PROXY_IP_HEADER = (
    _proxy_header
    if not _proxy_header or _proxy_header.startswith("HTTP_")
    else f"HTTP_{_proxy_header}"
)
AXES_CLIENT_IP_CALLABLE = "annotation.core.throttle.client_ip"
# REST API requests per client ("N/second", "/minute", "/hour" or "/day"): DRF's throttles,
# counted in the cache (CACHES below), by the address client_ip gives for anonymous clients.
STEPWISE_API_RATES = {
    "anon": os.environ.get("STEPWISE_API_ANON_RATE", "60/minute"),
    "user": os.environ.get("STEPWISE_API_USER_RATE", "1200/minute"),
}
# The cache holds the API's request counts: each process's memory by default; with several
# web processes (gunicorn workers, machines) set STEPWISE_CACHE_URL=redis://host:6379/N so
# they count together.
_cache_url = os.environ.get("STEPWISE_CACHE_URL", "").strip()
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# API tokens (annotation/core/tokens.py): personal, expiring after this many days (at most),
# revoked on logout and on a password change.
STEPWISE_TOKEN_DAYS = int(os.environ.get("STEPWISE_TOKEN_DAYS", "30"))
# ----------------------------------------------------------------------------------------------

# --- Model configs: what a researcher's model config may reach (see docs/workers.md) ---------
# Researchers write model configs; workers act on them inside the operator's network. Lists
# are comma-separated.


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


# Environment variables a config may name as api_key_env (the worker reads the key; a key is
# only sent to a host listed below). Empty by default: no key leaves a worker.
STEPWISE_SECRET_ENV_ALLOWLIST = _env_list("STEPWISE_SECRET_ENV_ALLOWLIST")
# Hosts (names, IP addresses or CIDR networks) an endpoint may reach besides public
# addresses: loopback and private networks are refused unless listed here, e.g.
# "127.0.0.1,gpu-1.internal,10.0.0.0/8". Link-local and cloud metadata addresses never pass.
STEPWISE_ENDPOINT_ALLOWED_HOSTS = _env_list("STEPWISE_ENDPOINT_ALLOWED_HOSTS")
# Whether endpoints on public (globally routable) addresses are allowed.
STEPWISE_ENDPOINT_ALLOW_PUBLIC = env_bool("STEPWISE_ENDPOINT_ALLOW_PUBLIC", True)
# --- end of the model-config block ------------------------------------------------------------

# Quotas on work (annotation/jobs/quotas.py, docs/security.md): jobs queued or running at
# once, and job starts in the last hour, per user and per project; 0 means no limit. One
# export of a whole project runs at a time, whatever these say.
STEPWISE_QUOTA_ACTIVE_JOBS_PER_USER = int(
    os.environ.get("STEPWISE_QUOTA_ACTIVE_JOBS_PER_USER", "30")
)
STEPWISE_QUOTA_ACTIVE_JOBS_PER_PROJECT = int(
    os.environ.get("STEPWISE_QUOTA_ACTIVE_JOBS_PER_PROJECT", "100")
)
STEPWISE_QUOTA_STARTS_PER_HOUR_PER_USER = int(
    os.environ.get("STEPWISE_QUOTA_STARTS_PER_HOUR_PER_USER", "300")
)
STEPWISE_QUOTA_STARTS_PER_HOUR_PER_PROJECT = int(
    os.environ.get("STEPWISE_QUOTA_STARTS_PER_HOUR_PER_PROJECT", "1000")
)

# The most new tokens a job may ask a model for in one reply (sampling.max_tokens); a
# model's own context (its config's max_length) bounds it too.
STEPWISE_MAX_NEW_TOKENS = int(os.environ.get("STEPWISE_MAX_NEW_TOKENS", "32768"))

# Modules that add job kinds to the table (annotation/jobs/kinds.py), each with a list KINDS;
# the web process and every worker must name the same ones.
STEPWISE_EXTRA_JOB_KINDS = _env_list("STEPWISE_EXTRA_JOB_KINDS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Log lines carry exception messages and endpoints' answers: control characters in them are
    # escaped so that no text can forge a log line (the Celery worker adds this filter to its
    # own handlers, see workers/celery_app.py). Django's loggers go through the same handler.
    "filters": {"escape_controls": {"()": "algorithms.log_safety.EscapeControlCharacters"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["escape_controls"]},
    },
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
