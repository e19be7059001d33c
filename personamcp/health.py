"""/healthz (the process answers) and /readyz (its database and Redis answer)."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})


def check_database() -> dict:
    start = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor, "ms": _ms(start)}
    except Exception as exc:
        return {"ok": False, "vendor": connection.vendor, "error": type(exc).__name__}


def check_redis() -> dict | None:
    if not settings.REDIS_URL:
        return None
    import redis

    start = time.perf_counter()
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        client.ping()
        client.close()
        return {"ok": True, "ms": _ms(start)}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def readyz(request):
    checks = {"database": check_database()}
    redis_check = check_redis()
    if redis_check is not None:
        checks["redis"] = redis_check
    ready = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
