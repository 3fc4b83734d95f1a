"""Settings for Attribution Ops, read only from the environment (SPEC §2).

Bad values fail loudly at start-up: a typo in DATABASE_URL or a missing SECRET_KEY in
production must stop the process, not fall back silently.
"""
import datetime
from pathlib import Path

import csp.constants
import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set (at least 50 characters) when DEBUG is off; "
            "set DEBUG=1 for a local development key."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_q",
    "tracker",
    "journeys",
    "attribution",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from STATIC_ROOT, so one host needs no proxy (docs/deploy.md §4).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: a locked-out login gets the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "attribution_site.urls"

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

WSGI_APPLICATION = "attribution_site.wsgi.application"


def _database(url_variable, default=None):
    """Parse one database URL and add the options this project relies on."""
    try:
        config = env.db_url(url_variable, default=default)
    except (environ.ImproperlyConfigured, ValueError) as error:
        raise ImproperlyConfigured(f"{url_variable} is not a valid database URL: {error}")
    engine = config["ENGINE"]
    if engine.endswith("mysql"):
        config.setdefault("OPTIONS", {}).update(
            {
                "charset": "utf8mb4",
                # Rebuilds and journey writes replace rows in ranges; READ COMMITTED keeps
                # gap locks from serialising unrelated accounts.
                "isolation_level": "read committed",
                "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
                # Large journey and snapshot writes go as LOAD DATA LOCAL INFILE when the server
                # allows it too (tracker.sql.insert_numeric_rows; docs/performance.md).
                "local_infile": env.bool("DATABASE_LOCAL_INFILE", default=True),
            }
        )
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
        config.setdefault("CONN_MAX_AGE", 60)
    elif engine.endswith("sqlite3"):
        config.setdefault("OPTIONS", {}).update(
            {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            }
        )
    elif not engine.endswith("postgresql"):
        raise ImproperlyConfigured(f"{url_variable}: unsupported database engine {engine}")
    return config


DATABASES = {
    "default": _database("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'attribution.sqlite3'}"),
}
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = _database("DATABASE_REPLICA_URL")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}

# Journey candidates, reports and exports read from here; writes always go to "default".
HEAVY_READ_DATABASE = "replica" if "replica" in DATABASES else "default"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

try:
    CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
except (environ.ImproperlyConfigured, ValueError, KeyError) as error:
    raise ImproperlyConfigured(f"CACHE_URL is not a valid cache URL: {error}")
if CACHES["default"]["BACKEND"].endswith("PyMemcacheCache"):
    # Set here rather than parsed from the URL: short timeouts so a dead memcached costs
    # milliseconds, and errors raised (not ignored) so they are logged and shown in checks.
    # retry_attempts=0: with retries, pymemcache answers calls in the second after a failure
    # with defaults instead of errors, and a journey eviction then would be lost silently; now
    # a failure marks the server dead (every call raises) for dead_timeout seconds.
    CACHES["default"]["OPTIONS"] = {
        "connect_timeout": 0.5,
        "timeout": 0.5,
        "no_delay": True,
        "ignore_exc": False,
        "retry_attempts": 0,
        "dead_timeout": 5,
    }
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="p202ops")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
# Gzipped copies made by collectstatic, names unchanged: unlike the manifest (hashed-name)
# storage, pages render without a manifest (tests, a forgotten collectstatic), and web hosts of
# different releases behind one balancer never link a file name the other one lacks.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Attribution behaviour (SPEC §2).
ATTRIBUTION_LOOKBACK_SECONDS = env.int("ATTRIBUTION_LOOKBACK_SECONDS", default=2_592_000)
ATTRIBUTION_MAX_TOUCHES = env.int("ATTRIBUTION_MAX_TOUCHES", default=25)
ATTRIBUTION_JOURNEY_MATCH = env.str("ATTRIBUTION_JOURNEY_MATCH", default="campaign")
# How late a conversion may commit after a higher conv_id was captured and still be captured.
ATTRIBUTION_CAPTURE_GRACE_SECONDS = env.int("ATTRIBUTION_CAPTURE_GRACE_SECONDS", default=600)
ATTRIBUTION_EXPORT_DIR = Path(env.str("ATTRIBUTION_EXPORT_DIR", default=str(VAR_DIR / "exports")))
# Webhooks to private, loopback or link-local addresses are refused unless this is on.
ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = env.bool("ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE", default=False)
# Origin of this console (e.g. https://ops.example.com) so export webhooks carry an absolute
# download_url; empty means a site-relative path.
ATTRIBUTION_BASE_URL = env.str("ATTRIBUTION_BASE_URL", default="")

if ATTRIBUTION_LOOKBACK_SECONDS < 1:
    raise ImproperlyConfigured("ATTRIBUTION_LOOKBACK_SECONDS must be a positive number of seconds.")
if not 1 <= ATTRIBUTION_MAX_TOUCHES <= 1000:
    raise ImproperlyConfigured("ATTRIBUTION_MAX_TOUCHES must be between 1 and 1000.")
if not 0 <= ATTRIBUTION_CAPTURE_GRACE_SECONDS <= 86_400:
    raise ImproperlyConfigured("ATTRIBUTION_CAPTURE_GRACE_SECONDS must be between 0 and 86400 seconds.")
if ATTRIBUTION_JOURNEY_MATCH not in ("campaign", "visitor"):
    raise ImproperlyConfigured(
        f"ATTRIBUTION_JOURNEY_MATCH must be 'campaign' or 'visitor', got {ATTRIBUTION_JOURNEY_MATCH!r}."
    )

# django-q2: retry must exceed the longest task timeout (a 30-day rebuild), attempts bounded,
# and no catch-up flood of missed schedules after downtime.
Q_TASK_TIMEOUT_SECONDS = env.int("Q_TASK_TIMEOUT_SECONDS", default=3600)
# A task taken by a worker and not acknowledged after this long is handed out again (its
# worker died, or it failed and has attempts left).
Q_RETRY_SECONDS = env.int("Q_RETRY_SECONDS", default=Q_TASK_TIMEOUT_SECONDS + 300)
if not 0 < Q_TASK_TIMEOUT_SECONDS < Q_RETRY_SECONDS:
    raise ImproperlyConfigured("Q_RETRY_SECONDS must exceed Q_TASK_TIMEOUT_SECONDS, and both be positive.")
Q_CLUSTER = {
    "name": "attribution",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TASK_TIMEOUT_SECONDS,
    "retry": Q_RETRY_SECONDS,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Task queue",
}
# A queued rebuild whose account is locked by another rebuild waits this long for it, leaving
# the rest of the task timeout for its own work (SPEC §6 step 10).
ATTRIBUTION_QUEUED_LOCK_WAIT_SECONDS = env.int(
    "ATTRIBUTION_QUEUED_LOCK_WAIT_SECONDS", default=max(0, Q_TASK_TIMEOUT_SECONDS - 600)
)
if not 0 <= ATTRIBUTION_QUEUED_LOCK_WAIT_SECONDS < Q_TASK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("ATTRIBUTION_QUEUED_LOCK_WAIT_SECONDS must be below the task timeout (Q_TASK_TIMEOUT_SECONDS).")
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    # django-q2's Redis broker with acknowledgements: a dead worker's task is retried.
    Q_CLUSTER["broker_class"] = "tracker.redis_broker.AcknowledgedRedis"
else:
    Q_CLUSTER["orm"] = "default"

# Production hardening; passes `manage.py check --deploy` when DEBUG is off.
# Only a TLS-terminating proxy that sets X-Forwarded-Proto itself may be believed (SPEC §9);
# without this a plain-HTTP client could claim to be secure. It also marks that proxy's
# X-Forwarded-For as the client address (attribution.api.auth.client_address).
TRUST_X_FORWARDED_PROTO = env.bool("TRUST_X_FORWARDED_PROTO", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUST_X_FORWARDED_PROTO else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe /healthz over plain HTTP and must read its JSON, not a redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# Content-Security-Policy on every response (django-csp): scripts only from our own static
# files, never inline; inline style attributes stay allowed (the admin and our SVG use them).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.constants.SELF],
        "script-src": [csp.constants.SELF],
        "style-src": [csp.constants.SELF, csp.constants.UNSAFE_INLINE],
        "img-src": [csp.constants.SELF, "data:"],
        "connect-src": [csp.constants.SELF],
        "object-src": [csp.constants.NONE],
        "base-uri": [csp.constants.SELF],
        "form-action": [csp.constants.SELF],
        "frame-ancestors": [csp.constants.NONE],
    },
}

# Admin log-in throttling (SPEC §9, django-axes): failed attempts are stored in the database, so
# every web host sees them; a username+address pair is locked after AXES_FAILURE_LIMIT failures.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "attribution.api.auth.client_address"
AXES_LOCKOUT_TEMPLATE = "admin/login_locked_out.html"
# Failed API tokens are counted per address in the cache (django-ratelimit); with memcached or
# Redis every web host shares the count. A cache that is down never locks valid tokens out.
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True
# Messages live in the server-side session, not in a cookie: a new API token's plaintext is
# shown once in a message and must never travel in a (signed but readable) cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # API bodies over 1 MiB are refused (SPEC §8).

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
