"""Beacon settings: one module, driven by environment variables, with safe development defaults."""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_bool(name: str, default: bool) -> bool:
    """Return the environment variable as a boolean (1/true/yes/on, 0/false/no/off).

    Anything else is refused: a mistyped "ture" must not quietly turn a safety setting off.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value == "":
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/true/yes/on or 0/false/no/off, got {raw!r}"
    )


def env_int(name: str, default: int) -> int:
    """Return the environment variable as a whole number, failing loudly on garbage."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    """Return a comma-separated environment variable as a list of non-empty items."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_float(name: str, default: float) -> float:
    """Return the environment variable as a float, failing loudly on garbage."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # Development only: a fixed, obviously unsafe key so sessions survive restarts.
    SECRET_KEY = "dev-insecure-beacon-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "axes",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    # Installed for its hashed-key model; Beacon uses its own PartnerAPIKey tied to a partner.
    "rest_framework_api_key",
    # Its system checks make sure the cache it counts in can count atomically.
    "django_ratelimit",
    "accounts",
    "search",
]

MIDDLEWARE = [
    # First, so that every answer is counted and timed, the refusals of the others too.
    "config.metrics.RequestMetricsMiddleware",
    # First, so that it counts every other middleware's queries too; off unless asked for.
    "config.middleware.QueryCountHeaderMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ApiBodyLimitMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.beacon",
            ],
        },
    },
]

# DATABASE_URL may say postgres:// or postgis://; GeoDjango needs the PostGIS backend either way.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/beacon"),
        engine="django.contrib.gis.db.backends.postgis",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out username or address before any password check.
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend that reads the user's roles with the user: one query per signed-in request.
    "accounts.backends.UserBackend",
    # Kept so that sessions signed in through it before UserBackend existed stay signed in (a
    # session names its backend); UserBackend answers first for every new sign-in.
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # Twelve characters at least: "Beacon2026" and its like are refused.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A field unit signs in once per shift; 14 hours covers a long shift with handover.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 3600)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)

# HTTPS in production (README, "Deploying for real"): redirect plain HTTP, tell browsers to use
# HTTPS only (HSTS), and behind a TLS proxy trust its X-Forwarded-Proto to know a request was
# secure. `manage.py check --deploy` is clean with these defaults and DEBUG off.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Behind our own TLS proxy (nginx and the like), the client's address is the last entry of
# X-Forwarded-For, for lockouts, rate limits and the timeline alike (config/client_ip.py).
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)

if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Brute force (django-axes): after this many failures a username, and separately an address, is
# locked out for the cool-off time; every failure is kept (admin: Axes) and logged.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"

# API tokens (django-rest-knox): stored hashed, one per device, expiring after a shift like the
# session; revoked by their user (auth/token/revoke/), an admin, or a change of password.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env_int("API_TOKEN_TTL_HOURS", 14)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

# Internationalisation: the centres work in Simplified Chinese; English for liaison and partners.
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_URL", REDIS_URL),
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "beacon"),
    }
}

# Field polling (GET /api/v1/my/tasks/ with If-None-Match; README, "Polling"). A unit's task-list
# version lives this long after its last change: the bound on a list left stale by a missed bump.
# A poller's cached identity (token -> user -> units) lives at most AUTH_TTL_SECONDS; revoking,
# deactivating or moving a user drops it at once, the TTL bounds a race with those writes.
POLLING = {
    "VERSION_TTL_SECONDS": env_int("POLL_VERSION_TTL_SECONDS", 600),
    "AUTH_TTL_SECONDS": env_int("POLL_AUTH_TTL_SECONDS", 60),
}

# Celery. The database, not the broker, is the record of what must happen: tasks are
# acknowledged after they run, handed back if the worker dies, and written to be safe to repeat.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    # A broker that is down must not hold a request: fail fast, the sweeps catch up.
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# Publishing retries briefly (about a second in all) before it gives up and logs.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.3,
    "interval_max": 0.5,
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "beacon")
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "offers-expire": {"task": "search.tasks.offers_expire", "schedule": 30.0},
    "tasks-flag-stale": {"task": "search.tasks.tasks_flag_stale", "schedule": 300.0},
    "areas-grow": {"task": "search.tasks.areas_grow", "schedule": 300.0},
    # The database is the record of what must happen: re-dispatch anything left waiting.
    "dispatch-sweep": {
        "task": "search.tasks.dispatch_sweep",
        "schedule": env_float("DISPATCH_SWEEP_SECONDS", 60.0),
    },
    # Partner messages: re-send whatever the on-commit delivery left behind.
    "federation-sweep": {
        "task": "search.tasks.federation_sweep",
        "schedule": env_float("FEDERATION_SWEEP_SECONDS", 30.0),
    },
    "aid-escalate": {"task": "search.tasks.aid_escalate", "schedule": 60.0},
    # Public alerts: widen the circle as time passes, end those whose case closed.
    "public-alerts-tick": {
        "task": "search.tasks.public_alerts_tick",
        "schedule": env_float("PUBLIC_ALERTS_TICK_SECONDS", 60.0),
    },
    # Supervision orders (督办) past their deadline go one level up.
    "orders-escalate": {
        "task": "search.tasks.orders_escalate",
        "schedule": env_float("ORDERS_ESCALATE_SECONDS", 60.0),
    },
    # Units' position tracks: delete what is older than POSITION_TRACK_RETENTION_HOURS.
    "positions-prune": {
        "task": "search.tasks.positions_prune",
        "schedule": env_float("POSITIONS_PRUNE_SECONDS", 600.0),
    },
}

# How long a unit's shared positions are kept as its track (the coordinator's map, debriefs);
# the unit's last position itself is kept on the unit whatever its age.
POSITION_TRACK_RETENTION_HOURS = env_int("POSITION_TRACK_RETENTION_HOURS", 72)

# Fan-out and supervision. Xuzhou's published target is "3 minutes to dispatch"
# (shared/data/search-facts.md): an offer nobody answers in 3 minutes goes to the next unit.
DISPATCH: dict[str, Any] = {
    "OFFER_TIMEOUT_SECONDS": env_int("DISPATCH_OFFER_TIMEOUT_SECONDS", 180),
    "MAX_OPEN_TASKS_PER_UNIT": env_int("DISPATCH_MAX_OPEN_TASKS_PER_UNIT", 2),
    # Sectors each free unit is matched against (the most probable of its ground, and for
    # pos_rate its nearest too); no more than all free units together can take.
    "CANDIDATES_PER_UNIT": env_int("DISPATCH_CANDIDATES_PER_UNIT", 200),
    # Or, when the free units outnumber the sectors, the nearest free units of each sector.
    "CANDIDATES_PER_SECTOR": env_int("DISPATCH_CANDIDATES_PER_SECTOR", 8),
    # How often (seconds, per case) to count the waiting sectors no unit covers at all.
    "UNCOVERED_CHECK_SECONDS": env_int("DISPATCH_UNCOVERED_CHECK_SECONDS", 60),
    "STALE_TASK_SECONDS": env_int("DISPATCH_STALE_TASK_SECONDS", 1800),
    # Below this radius the travel cap is not applied: a report minutes old still gets ground.
    "MIN_REACH_M": env_int("DISPATCH_MIN_REACH_M", 300),
    # A time-growth version is made only when the outer radius grew by at least this share.
    "GROWTH_MIN_INCREASE": env_float("DISPATCH_GROWTH_MIN_INCREASE", 0.10),
    # Which sector goes to which unit (search/services/policy.py): "ring" (highest ring weight
    # first, nearest home unit), "pos_rate" (expected probability of success per minute), or
    # the simulator's baselines "nearest" and "random". bench/simulate.py compares them.
    "POLICY": os.environ.get("DISPATCH_POLICY", "ring"),
    # pos_rate: a high-probability sector (ring <= OUTSIDE_HOME_MAX_RING) whose home units are
    # all busy may go to a unit whose home area lies within OUTSIDE_HOME_MAX_M of it (0: never).
    "OUTSIDE_HOME_MAX_M": env_int("DISPATCH_OUTSIDE_HOME_MAX_M", 3000),
    "OUTSIDE_HOME_MAX_RING": env_int("DISPATCH_OUTSIDE_HOME_MAX_RING", 1),
    # pos_rate: a searched sector is offered again (to another unit) while its combined
    # probability of detection is below this; the Bayes update ranks it below fresh ground.
    "RESEARCH_BELOW_POD": env_float("DISPATCH_RESEARCH_BELOW_POD", 0.9),
    # Travel with no known position, for the ranking only (minutes).
    "UNKNOWN_POSITION_TRAVEL_MIN": env_float("DISPATCH_UNKNOWN_POSITION_TRAVEL_MIN", 30.0),
    # What a unit of each kind does, for pos_rate's ranking and the simulator: travel speed
    # (km/h, straight line), sweep rate (km² an hour searched at coverage 1) and the coverage
    # one pass aims at (Koopman: POD = 1 - e^-coverage). Beacon's starting assumptions, not
    # published figures (README, "Search effectiveness"); adjust to the centre's own teams.
    "UNIT_EFFORT": {
        "patrol": {"speed_kmh": 25.0, "sweep_km2_h": 0.6, "coverage": 1.0},
        "station": {"speed_kmh": 20.0, "sweep_km2_h": 0.4, "coverage": 1.0},
        "volunteer": {"speed_kmh": 12.0, "sweep_km2_h": 0.3, "coverage": 1.2},
        "k9": {"speed_kmh": 25.0, "sweep_km2_h": 0.5, "coverage": 1.5},
        "drone": {"speed_kmh": 40.0, "sweep_km2_h": 1.5, "coverage": 0.7},
        "boat": {"speed_kmh": 15.0, "sweep_km2_h": 0.8, "coverage": 0.8},
    },
}
DISPATCH_POLICIES = ("ring", "pos_rate", "nearest", "random")
if DISPATCH["POLICY"] not in DISPATCH_POLICIES:
    raise ImproperlyConfigured(
        f"DISPATCH_POLICY must be one of {', '.join(DISPATCH_POLICIES)}, got {DISPATCH['POLICY']!r}"
    )

# Geocoding (geopy). The provider is any geopy geocoder name; DOMAIN points at a self-hosted one.
GEOCODER = {
    "PROVIDER": os.environ.get("GEOCODER_PROVIDER", "nominatim"),
    "DOMAIN": os.environ.get("GEOCODER_DOMAIN", "nominatim.openstreetmap.org"),
    "SCHEME": os.environ.get("GEOCODER_SCHEME", "https"),
    "API_KEY": os.environ.get("GEOCODER_API_KEY", ""),
    "USER_AGENT": os.environ.get("GEOCODER_USER_AGENT", "beacon-missing-person-search"),
    "TIMEOUT": env_float("GEOCODER_TIMEOUT", 5.0),
    "MIN_DELAY_SECONDS": env_float("GEOCODER_MIN_DELAY_SECONDS", 1.0),
    "CACHE_SECONDS": env_int("GEOCODER_CACHE_SECONDS", 7 * 24 * 3600),
}

# Map tiles for Leaflet (vendored under static/). Point MAP_TILE_URL at the centre's own tile
# server where there is one; the map still takes a pin without tiles.
MAP = {
    "TILE_URL": os.environ.get("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
    "ATTRIBUTION": os.environ.get("MAP_ATTRIBUTION", "© OpenStreetMap contributors"),
    "CENTER_LAT": env_float("MAP_CENTER_LAT", 34.25),
    "CENTER_LON": env_float("MAP_CENTER_LON", 117.3),
    "ZOOM": env_int("MAP_ZOOM", 10),
}

# The largest upload Django holds in memory; photos above this spill to a temporary file.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# API paths that take a larger body than DATA_UPLOAD_MAX_MEMORY_SIZE (read as a stream, never
# loaded by Django whole): a registry's PFIF document may be up to 5 MB.
API_BODY_LIMITS = {"/api/v1/pfif/import/": 5 * 1024 * 1024}

REST_FRAMEWORK = {
    # Token first, so an anonymous call gets 401 with WWW-Authenticate rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "search.api.errors.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "search.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "search.api.errors.exception_handler",
    # Per client: a user, a partner key, or an address. Not a security control (not atomic),
    # but it keeps one runaway script from starving the centre's own staff.
    "DEFAULT_THROTTLE_CLASSES": [
        "search.api.throttling.ClientRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "client": os.environ.get("API_THROTTLE_RATE", "600/min"),
        # Token requests per address: enough for a shift change, far too few for guessing.
        "auth": os.environ.get("API_AUTH_THROTTLE_RATE", "10/min"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Beacon API",
    "DESCRIPTION": (
        "Missing-person search coordination: cases, tasks, sightings, search areas, and the "
        "mutual-aid protocol between cities (POST /api/v1/federation/messages/)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files: a police network may not reach a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "search.api.schema.document_errors_and_omissions",
    ],
    "ENUM_NAME_OVERRIDES": {
        "PriorityEnum": "search.choices.Priority",
        "AidMessageTypeEnum": "search.choices.AidMessageType",
    },
}


# Content-Security-Policy (django-csp) on every answer: scripts, styles and everything else
# from our own origin only (Leaflet and Swagger UI are vendored), no inline script or style;
# map tiles from the configured tile server. No page may be framed.
def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".replace("{s}", "*")


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", _origin(MAP["TILE_URL"])],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "worker-src": ["'self'"],
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Mutual aid between cities (search/federation). Delivery retries back off exponentially with
# jitter up to the cap; the beat sweep re-sends whatever was left behind.
FEDERATION = {
    "TIMEOUT_SECONDS": env_float("FEDERATION_TIMEOUT_SECONDS", 10.0),
    "RETRY_BASE_SECONDS": env_float("FEDERATION_RETRY_BASE_SECONDS", 5.0),
    "RETRY_CAP_SECONDS": env_float("FEDERATION_RETRY_CAP_SECONDS", 600.0),
    # A partner that does not answer is probed with one message on this backoff. The cap bounds
    # how long after its return a partner waits to be found again, whatever the outage's length.
    "PROBE_BASE_SECONDS": env_float("FEDERATION_PROBE_BASE_SECONDS", 1.0),
    "PROBE_CAP_SECONDS": env_float("FEDERATION_PROBE_CAP_SECONDS", 2.0),
    # How long a worker holds a message it is sending; past it, another worker may send it.
    # Longer than a send can take (connect and read timeouts, signing).
    "LEASE_SECONDS": env_float("FEDERATION_LEASE_SECONDS", 120.0),
    "MAX_BODY_BYTES": env_int("FEDERATION_MAX_BODY_BYTES", 1024 * 1024),
    # A request the partner has not accepted or declined in this time is flagged to coordinators.
    "ESCALATE_AFTER_MINUTES": env_int("FEDERATION_ESCALATE_AFTER_MINUTES", 15),
}

# The domain part of the PFIF record ids Beacon writes ("<domain>/<case reference>"): a
# registry keeps records from many places apart by it, so each deployment names its own.
PFIF_DOMAIN = os.environ.get("PFIF_DOMAIN", "beacon.local")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes says every sign-in at INFO; its lockouts (WARNING) are what an operator needs,
    # and every failure is kept in its table anyway.
    "loggers": {"axes": {"level": os.environ.get("AXES_LOG_LEVEL", "WARNING")}},
}

# Debian 12 ships GDAL 3.6, which cannot block file/network access from spatial references.
# Beacon accepts coordinates only as GeoJSON in SRID 4326 and never honours a "crs" member, so
# the warning is known and recorded in README ("Known limits"), not hidden by accident.
# django-ratelimit names only the memcached and django-redis backends as supported; Django's own
# RedisCache counts with Redis INCR, which is atomic, and that is what the library needs.
SILENCED_SYSTEM_CHECKS = ["gis.W001", "django_ratelimit.W001"]

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "beacon@localhost")

# /metrics (config/metrics.py): a Prometheus scraper sends this as `Authorization: Bearer …`;
# empty means only signed-in staff may read the metrics.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
if METRICS_TOKEN and len(METRICS_TOKEN) < 24:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 24 characters (or empty)")
# An X-Query-Count header on every answer, for benchmarks through a real server (bench/scale.py).
QUERY_COUNT_HEADER = env_bool("BEACON_QUERY_COUNT_HEADER", False)

# How long the health check waits for the broker before calling it down.
HEALTH_BROKER_TIMEOUT_SECONDS = env_float("HEALTH_BROKER_TIMEOUT_SECONDS", 2.0)

# Public alerts (search/services/public.py). The alert circle widens with time since last seen:
# (hours up to, km); None is "any longer". Children follow the MPS Tuanyuan schedule
# (shared/data/search-facts.md); for adults no national schedule is published, so this one is
# ours: walking, then a day's travel by bus or train.
PUBLIC_ALERT = {
    "CHILD_RADII_KM": ((1, 100), (2, 200), (3, 300), (None, 500)),
    "OTHER_RADII_KM": ((1, 10), (3, 25), (12, 50), (24, 100), (None, 200)),
    # The centre's phone number the preview starts from.
    "DEFAULT_PHONE": os.environ.get("PUBLIC_ALERT_PHONE", "110"),
    # CAP <sender>: who the messages come from.
    "SENDER": os.environ.get("CAP_SENDER", "beacon@search-centre.example"),
    # Tips: per address and per alert, in django-ratelimit's "count/period" form.
    "TIP_RATE_PER_ADDRESS": os.environ.get("TIP_RATE_PER_ADDRESS", "5/10m"),
    "TIP_RATE_PER_ALERT": os.environ.get("TIP_RATE_PER_ALERT", "120/h"),
}
# Where the public finds Beacon: absolute links in CAP, Atom and the QR code (no trailing /).
# Empty: the request's own host.
# Rate-limited tips are counted in the default cache; a cache that does not answer lets tips in.
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
