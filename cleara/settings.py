"""Cleara settings: one module, every knob read from the environment with a working default.

Embedded default (no service needed): SQLite under var/ in WAL mode, the in-memory channel
layer and django-q2's ORM broker. Set DATABASE_URL / REDIS_URL to run on PostgreSQL and Redis.
"""
import importlib.util
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from cleara import logs

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()

# --- Security (cleara/middleware.py, access/) ----------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=env.bool("DEBUG", default=False))
# Keys that were ever published (in this repository or its history): never valid without DEBUG.
DEVELOPMENT_SECRET_KEYS = frozenset({"cleara-dev-insecure-key-change-me"})


def _local_secret_key() -> str:
    """Without DJANGO_SECRET_KEY: a random key made once for this checkout (var/secret_key), shared
    by the web server, the worker and the tests, and known to nobody else."""
    path = VAR_DIR / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    for _ in range(50):  # another process may be between creating and writing it
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise ImproperlyConfigured(f"{path} is empty: delete it or set DJANGO_SECRET_KEY")


SECRET_KEY = env("DJANGO_SECRET_KEY", default=env("SECRET_KEY", default="")) or _local_secret_key()
if SECRET_KEY in DEVELOPMENT_SECRET_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is a published development key and DJANGO_DEBUG is off: set DJANGO_SECRET_KEY "
        "to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]))
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CLEARA_BASE_URL = env("CLEARA_BASE_URL", default="http://localhost:8000")

# HTTPS: DJANGO_HTTPS=1 behind TLS turns on secure cookies, the redirect to https and HSTS (each
# can be set alone). Behind a proxy that terminates TLS, DJANGO_SECURE_PROXY_SSL_HEADER=1 trusts its
# X-Forwarded-Proto (only set it when the proxy overwrites that header).
HTTPS = env.bool("DJANGO_HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes inside the cluster speak plain HTTP
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=HTTPS)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# No inline script anywhere: pages load their JavaScript from static files and pass data in data-*
# attributes. Styles allow inline because plotly.js and htmx set element styles as they draw.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Login: after AXES_FAILURE_LIMIT wrong passwords for one username from one address, both the
# console's and the admin's login refuse that pair (429) for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Roles (access/roles.py): a user in no role group gets this one.
CLEARA_DEFAULT_ROLE = env("CLEARA_DEFAULT_ROLE", default="viewer")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Secrets at rest (cleara/encryption.py): Fernet keys, the first encrypts; unset, one is derived
# from SECRET_KEY.
CLEARA_ENCRYPTION_KEYS = env.list("CLEARA_ENCRYPTION_KEYS", default=[])
# --- end of security -----------------------------------------------------------------------

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "channels",
    "django_q",
    "axes",
    "csp",
    "ninja",  # serves the API docs' JavaScript from static files, not a CDN
    "access",
    "incidents",
    "correlation",
    "integrations",
]

MIDDLEWARE = [
    # Observability first: the request id is bound before anything logs; the latency covers the rest.
    "cleara.logs.RequestIdMiddleware",
    "cleara.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "cleara.middleware.HostileInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages and fragments gzipped (the dashboard's HTML is 74 kB, 10 on the wire): on a slow link
    # it is the first thing a cold load waits for. Below WhiteNoise, whose static files are
    # compressed ahead of time; Django adds random bytes to each body against BREACH.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "cleara.middleware.HtmxLoginRedirectMiddleware",
    "cleara.middleware.AuditMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "cleara.urls"
ASGI_APPLICATION = "cleara.asgi.application"
WSGI_APPLICATION = "cleara.wsgi.application"

TEMPLATES = [
    {
        # template_partials is wired by hand (not its auto-wrapping) so that {% partialdef %}
        # is a builtin: templates never {% load partials %}, as on Django 6.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "access.context_processors.can",
            ],
            "builtins": ["template_partials.templatetags.partials"],
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        # Cached: without it every render re-reads and re-parses every template.
                        ("django.template.loaders.cached.Loader", [
                            "django.template.loaders.filesystem.Loader",
                            "django.template.loaders.app_directories.Loader",
                        ]),
                    ],
                )
            ],
        },
    }
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cleara.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and the simulator read while one of them writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # A database host that does not answer fails a request after this many seconds (503), instead
    # of holding it (and the liveness probe) until the kernel gives up.
    DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
    # A pool of connections per process (psycopg_pool, through Django's "pool" option): a request
    # borrows one for its duration and gives it back when it ends (CONN_MAX_AGE=0), so a process
    # holds at most DATABASE_POOL_MAX_SIZE connections however many threads serve requests (under
    # ASGI every request runs in its own thread: with persistent connections each thread kept its
    # own, and 16 clients exhausted the server's max_connections). A request that waits longer
    # than DATABASE_POOL_TIMEOUT for a free connection (all in use, or the database unreachable)
    # answers 503 with Retry-After (cleara/errors.py). cleara.dbpool makes a forked child (the
    # django-q2 workers) start its own pool instead of sharing its parent's sockets.
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASE_POOL_TIMEOUT = env.float("DATABASE_POOL_TIMEOUT", default=float(DATABASE_CONNECT_TIMEOUT))
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=8),
            "timeout": DATABASE_POOL_TIMEOUT,
            # The pool retries a failed connection with a growing delay (1, 2, 4 ... s) for this
            # long, then gives up and the next request starts again at once: kept as short as a
            # request's wait, so that the first request after the database comes back gets a
            # connection instead of waiting out a backoff grown during the outage.
            "reconnect_timeout": DATABASE_POOL_TIMEOUT,
            # Connections above min_size that sat idle this long are closed.
            "max_idle": env.float("DATABASE_POOL_MAX_IDLE", default=300.0),
            "name": "cleara",
        }
        from cleara import dbpool  # noqa: F401  (registers the fork handler)
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
# With the database unreachable every request answers 503 with this Retry-After (cleara/errors.py).
DATABASE_UNAVAILABLE_RETRY_AFTER = env.int("DATABASE_UNAVAILABLE_RETRY_AFTER", default=10)
# ...and when every pooled connection of the process stayed in use for DATABASE_POOL_TIMEOUT.
DATABASE_POOL_BUSY_RETRY_AFTER = env.int("DATABASE_POOL_BUSY_RETRY_AFTER", default=2)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # A socket's consumer waits for its next message with BZPOPMIN, blocking up to 5 s
    # (RedisChannelLayer.brpop_timeout). redis-py 8 gives every connection a 5 s read timeout by
    # default, so an idle socket's wait ended in "Timeout reading from ..." and daphne closed it
    # (every ~15 s). The read timeout must outlast the block; 20 s still notices a Redis that has
    # stopped answering. Health checks ping a connection that sat idle before reusing it.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{
                    "address": REDIS_URL,
                    "socket_timeout": env.float("REDIS_SOCKET_TIMEOUT", default=20.0),
                    "socket_connect_timeout": 5,
                    "socket_keepalive": True,
                    "health_check_interval": 30,
                }],
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

Q_CLUSTER = {
    "name": "cleara",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 600,
    "retry": 720,
    "max_attempts": 3,
    "catch_up": False,
    "label": "Tasks",
    "sync": env.bool("Q_SYNC", default=False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static_root"
STATIC_ROOT.mkdir(exist_ok=True)
# plotly.js: Plotly's basic partial bundle (bar, pie, scatter: all the console draws; 1.2 MB, a
# quarter of the full one), installed from the npm registry by `make install` (package.json,
# npm ci) and never committed. Without npm, the full bundle of the installed plotly wheel is
# served instead. Either way no CDN; templates use PLOTLY_JS.
PLOTLY_BASIC_DIR = BASE_DIR / "node_modules" / "plotly.js-basic-dist-min"
if (PLOTLY_BASIC_DIR / "plotly-basic.min.js").exists():
    PLOTLY_STATIC = ("plotly", PLOTLY_BASIC_DIR)
    PLOTLY_JS = "plotly/plotly-basic.min.js"
else:
    PLOTLY_STATIC = ("plotly", Path(importlib.util.find_spec("plotly").origin).parent / "package_data")
    PLOTLY_JS = "plotly/plotly.min.js"
STATICFILES_DIRS = [BASE_DIR / "static", PLOTLY_STATIC]
# Compressed (gzip) and content-hashed names, so WhiteNoise can serve them with a year's cache
# lifetime. Needs `manage.py collectstatic` (make run and the e2e server do it); tests render
# with the plain storage (conftest.py).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Event retention (incidents.retention, run hourly by the worker): events older than
# EVENT_RETENTION_DAYS are dropped (0 keeps everything); the hourly rollups and incidents stay. On
# PostgreSQL the events table is partitioned by EVENT_PARTITION_DAYS days, dropped whole, with
# EVENT_PARTITIONS_AHEAD partitions made ahead.
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=90)
EVENT_PARTITION_DAYS = env.int("EVENT_PARTITION_DAYS", default=7)
EVENT_PARTITIONS_AHEAD = env.int("EVENT_PARTITIONS_AHEAD", default=2)
EVENT_PARTITION_FILLFACTOR = env.int("EVENT_PARTITION_FILLFACTOR", default=100)

# Ingest limits: a batch holds at most INGEST_MAX_EVENTS events and INGEST_MAX_BYTES bytes.
INGEST_MAX_EVENTS = env.int("INGEST_MAX_EVENTS", default=5000)
INGEST_MAX_BYTES = env.int("INGEST_MAX_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BYTES + 1024 * 1024
# What a client may send over the network (events API, Alertmanager webhook): timestamps from
# INGEST_MAX_PAST_DAYS ago to INGEST_MAX_FUTURE_HOURS ahead; at most INGEST_MAX_NEW_SERVICES new
# services per request; at most ALERTMANAGER_MAX_ALERTS alerts per webhook call.
# The learned root-cause ranker shipped in correlation/rankers/ runs while the model registry holds
# no ranker of its own (README).
CORRELATION_SHIPPED_RANKER = env.bool("CORRELATION_SHIPPED_RANKER", default=True)
INGEST_MAX_PAST_DAYS = env.int("INGEST_MAX_PAST_DAYS", default=30)
INGEST_MAX_FUTURE_HOURS = env.int("INGEST_MAX_FUTURE_HOURS", default=24)
INGEST_MAX_NEW_SERVICES = env.int("INGEST_MAX_NEW_SERVICES", default=100)
ALERTMANAGER_MAX_ALERTS = env.int("ALERTMANAGER_MAX_ALERTS", default=1000)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)  # cleara.middleware.HostileInputMiddleware

# Processing after a batch is stored (issue 11, incidents/queue.py). With Redis configured the
# request stores and answers 202; anomaly detection and correlation run in `manage.py ingest_worker`
# processes fed from one Redis stream per partition (INGEST_ASYNC=0 turns that off). Without Redis
# (the embedded default) ingest processes inline when CORRELATION_INLINE is on (the default), so that
# an event's incident is updated before 202 answers.
INGEST_ASYNC = bool(REDIS_URL) and env.bool("INGEST_ASYNC", default=True)
CORRELATION_INLINE = env.bool("CORRELATION_INLINE", default=True)
INGEST_SERIES_PARTITIONS = env.int("INGEST_SERIES_PARTITIONS", default=4)  # metric points, by series
INGEST_COMPONENT_PARTITIONS = env.int("INGEST_COMPONENT_PARTITIONS", default=4)  # alerts, logs, anomalies, by topology component
INGEST_LEASE_SECONDS = env.float("INGEST_LEASE_SECONDS", default=10.0)  # a dead worker's partitions move after this
INGEST_REPUBLISH_SECONDS = env.float("INGEST_REPUBLISH_SECONDS", default=30.0)  # an unprocessed message is published again after this
INGEST_WORKER_BATCH = env.int("INGEST_WORKER_BATCH", default=200)  # messages a worker processes in one transaction
# A read that brought only a trickle of what requests sent (fewer than INGEST_WORKER_LINGER_EVENTS
# events: one-event requests; anomalies a worker published do not count) waits this long for more
# before processing, so a batch's fixed cost is not paid per message (0: off; docs/sizing.md has
# what 20 and 50 ms did to one-event requests and to batches of 1,000).
INGEST_WORKER_LINGER_MS = env.float("INGEST_WORKER_LINGER_MS", default=50.0)
INGEST_WORKER_LINGER_EVENTS = env.int("INGEST_WORKER_LINGER_EVENTS", default=100)
INGEST_STREAM_MAXLEN = env.int("INGEST_STREAM_MAXLEN", default=100_000)  # entries kept per stream (approximate trim)
INGEST_TOPOLOGY_TTL = env.float("INGEST_TOPOLOGY_TTL", default=5.0)  # seconds a process keeps the topology's components
INGEST_STREAM_PREFIX = env("INGEST_STREAM_PREFIX", default="cleara:ingest")  # Redis keys of the streams, leases and workers
INGEST_WORKERS = env.int("INGEST_WORKERS", default=1)
# POST /api/v1/events served before Django (incidents.fastingest: the same checks and answers,
# concurrent requests sharing one commit) when the queue is on; INGEST_FAST_PATH=0 leaves it to Django.
INGEST_FAST_PATH = env.bool("INGEST_FAST_PATH", default=True)
# API tokens kept per process (cleara.tokencache), dropped in every process through this Redis
# channel when one changes; an entry lives at most API_TOKEN_CACHE_SECONDS (0: no cache).
API_TOKEN_CACHE_SECONDS = env.float("API_TOKEN_CACHE_SECONDS", default=30.0)
API_TOKEN_CHANNEL = env("API_TOKEN_CHANNEL", default="cleara:api-tokens")  # ingest workers `make run` / `manage.py serve` / `make stack` start with Redis
ANOMALY_DETECTION = env.bool("ANOMALY_DETECTION", default=True)

# --- Observability: logs, Sentry, metrics, health (cleara/logs.py, metrics.py, health.py) ------
# LOG_FORMAT=json (default): one JSON object per line with the request id; plain for a terminal.
LOGGING = logs.logging_config(fmt=env("LOG_FORMAT", default="json"), level=env("LOG_LEVEL", default="INFO"))

SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    logs.sentry_init(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        release=env("CLEARA_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# /metrics answers a bearer METRICS_TOKEN or a caller inside METRICS_ALLOWED_NETWORKS (CIDRs).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
# /readyz: a worker must have finished a task within this many seconds.
READY_WORKER_MAX_AGE = env.int("READY_WORKER_MAX_AGE", default=180)
# Behind a TLS-terminating proxy (deploy/nginx/cleara.tls.conf.template, an Ingress): trust its
# X-Forwarded-Proto and send cookies over HTTPS only. Set only when every request comes through it.
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
# --- end of observability ----------------------------------------------------------------------

# --- Integrations: Slack and PagerDuty (integrations/) --------------------------------------
# Each integration is on only when its credentials are present; the *_ENABLED flags are derived.
SLACK_BOT_TOKEN = env("SLACK_BOT_TOKEN", default="")
SLACK_SIGNING_SECRET = env("SLACK_SIGNING_SECRET", default="")
SLACK_CHANNEL = env("SLACK_CHANNEL", default="")
SLACK_CLIENT_ID = env("SLACK_CLIENT_ID", default="")
SLACK_CLIENT_SECRET = env("SLACK_CLIENT_SECRET", default="")
SLACK_API_URL = env("SLACK_API_URL", default="https://slack.com/api/")
SLACK_OAUTH_ENABLED = bool(SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)
SLACK_ENABLED = bool(SLACK_BOT_TOKEN) or SLACK_OAUTH_ENABLED
PAGERDUTY_ROUTING_KEY = env("PAGERDUTY_ROUTING_KEY", default="")
PAGERDUTY_EVENTS_URL = env("PAGERDUTY_EVENTS_URL", default="https://events.pagerduty.com")
PAGERDUTY_API_TOKEN = env("PAGERDUTY_API_TOKEN", default="")
PAGERDUTY_API_URL = env("PAGERDUTY_API_URL", default="https://api.pagerduty.com")
PAGERDUTY_FROM_EMAIL = env("PAGERDUTY_FROM_EMAIL", default="")
# Comma-separated: during a rotation PagerDuty signs with every active secret.
PAGERDUTY_WEBHOOK_SECRET = env.list("PAGERDUTY_WEBHOOK_SECRET", default=[])
PAGERDUTY_MIN_SEVERITY = env("PAGERDUTY_MIN_SEVERITY", default="critical")
PAGERDUTY_ENABLED = bool(PAGERDUTY_ROUTING_KEY)
# A delivery's lease on its outbox row (integrations/outbox.py); longer than any one send takes.
OUTBOX_CLAIM_SECONDS = env.int("OUTBOX_CLAIM_SECONDS", default=60)
# A training run's lease (correlation.runs): a worker killed mid-training lets go after this, and the
# minute sweep queues the run again.
TRAINING_RUN_LEASE_SECONDS = env.int("TRAINING_RUN_LEASE_SECONDS", default=1800)
PAGERDUTY_API_ENABLED = bool(PAGERDUTY_API_TOKEN and PAGERDUTY_FROM_EMAIL)
# --- end of integrations ---------------------------------------------------------------------
