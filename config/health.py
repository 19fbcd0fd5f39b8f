"""GET /healthz: is every part Beacon needs reachable? 200 when all are, 503 naming what is not."""

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

logger = logging.getLogger(__name__)


def check_database() -> dict:
    """Return the database and PostGIS state."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT postgis_lib_version()")
            (postgis_version,) = cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is reported
        logger.warning("health: database down: %s", exc)
        return {"status": "down", "error": exc.__class__.__name__}
    return {"status": "ok", "postgis": postgis_version}


def check_broker() -> dict:
    """Return the Celery broker state, waiting at most HEALTH_BROKER_TIMEOUT_SECONDS."""
    timeout = settings.HEALTH_BROKER_TIMEOUT_SECONDS
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout) as conn:
            # For Redis, opening the connection's channel sends PING: a real answer, not a socket.
            conn.ensure_connection(max_retries=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is reported
        logger.warning("health: broker down: %s", exc)
        return {"status": "down", "error": exc.__class__.__name__}
    return {"status": "ok"}


@never_cache
@require_GET
def healthz(request):
    """Return the state of database (with PostGIS) and broker."""
    checks = {"database": check_database(), "broker": check_broker()}
    down = sorted(name for name, result in checks.items() if result["status"] != "ok")
    body = {"status": "ok" if not down else "down", "down": down, "checks": checks}
    return JsonResponse(body, status=200 if not down else 503)
