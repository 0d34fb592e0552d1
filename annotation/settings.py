"""Stepwise settings: one module, driven by the environment.

Defaults run a first demo with nothing installed (SQLite file, a filesystem broker);
tests, CI and production set DATABASE_URL and CELERY_BROKER_URL.
"""

import os
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Lets Django's generic classes be subscripted at run time (forms.ModelForm[Model]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("STEPWISE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and os.environ.get("STEPWISE_REQUIRE_SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set in production")
    SECRET_KEY = "insecure-development-key-change-me"
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
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
    # Serves static files from the app process itself (runserver, gunicorn), no web server needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
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
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'stepwise.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes share the file: wait on locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
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
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stepwise API",
    "DESCRIPTION": "Step-level reasoning data: problems, step trees, traces, grades, jobs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
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
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True

# Where jobs write their files (imports uploaded, exports produced): Django storage.
STEPWISE_IMPORT_CHUNK = int(os.environ.get("STEPWISE_IMPORT_CHUNK", "2000"))
STEPWISE_ANSWER_TIMEOUT_S = float(os.environ.get("STEPWISE_ANSWER_TIMEOUT_S", "5"))
# A running job whose heartbeat is older than this is abandoned (its worker died) and is
# picked up again; workers beat every third of it while a chunk runs.
STEPWISE_JOB_STALE_SECONDS = float(os.environ.get("STEPWISE_JOB_STALE_SECONDS", "120"))
# Autosaves commit without waiting for the disk flush (see workspace.services); submits always
# wait for it.
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
