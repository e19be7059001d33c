"""Prometheus metrics: RPC calls, turn and LLM latency, sessions, background queue depth.

Each server process keeps its own registry; scrape every process (``GET /metrics``, an API key
with admin scope, or anonymous in local development mode).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from personamcp import errors
from personamcp.auth import bearer_token, principal_from_key, principal_from_user, require
from personamcp.exceptions import DomainError

log = logging.getLogger(__name__)

RPC_CALLS = Counter("personamcp_rpc_calls_total", "JSON-RPC calls", ["method", "outcome"])
RPC_LATENCY = Histogram(
    "personamcp_rpc_latency_seconds",
    "JSON-RPC call latency",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TURN_LATENCY = Histogram(
    "personamcp_turn_seconds",
    "Whole turn latency",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60),
)
TURN_OVERHEAD = Histogram(
    "personamcp_turn_overhead_seconds",
    "Platform's own cost of a turn (total minus LLM time)",
    buckets=(0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1),
)
LLM_LATENCY = Histogram(
    "personamcp_llm_seconds", "LLM call latency", buckets=(0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60)
)
ACTIVE_SESSIONS = Gauge("personamcp_active_sessions", "Open /mcp WebSocket sessions")
QUEUE_DEPTH = Gauge("personamcp_queue_depth", "Tasks waiting in the Celery queue (Redis)")


def observe_turn(timing: dict) -> None:
    """Record a finished turn's timings (milliseconds, as returned by the turn pipeline)."""
    total = (timing.get("total_ms") or 0) / 1000
    llm = (timing.get("llm_ms") or 0) / 1000
    TURN_LATENCY.observe(total)
    LLM_LATENCY.observe(llm)
    TURN_OVERHEAD.observe(max(0.0, total - llm))


def queue_depth() -> int:
    """Tasks waiting in the Celery queue (in-process jobs in the embedded mode)."""
    if not settings.REDIS_URL:
        from personamcp import jobs

        return len(jobs._pending)
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    try:
        return int(client.llen("celery"))
    finally:
        client.close()


# --- open sockets across server processes --------------------------------------------------
# Each server process (scaled mode) writes its count of open /mcp sockets into one Redis hash
# every few seconds; readers add up the fresh entries. The embedded mode has one process.
SOCKETS_KEY = "personamcp:open_sockets"
SOCKETS_REPORT_EVERY = 5.0
_reporter_started = False


def _local_sockets() -> int:
    from personamcp.rpc import consumer

    return consumer.active_sessions


def _process_key() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def start_socket_reporter() -> None:
    """Start this server process's reporter thread (scaled mode; once per process)."""
    global _reporter_started
    if _reporter_started or not settings.REDIS_URL:
        return
    _reporter_started = True

    def report() -> None:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        while True:
            try:
                client.hset(SOCKETS_KEY, _process_key(), f"{_local_sockets()}:{time.time():.0f}")
            except Exception as exc:  # Redis away for a moment: the next round tries again
                log.debug("could not report open sockets: %s", exc)
            time.sleep(SOCKETS_REPORT_EVERY)

    threading.Thread(target=report, name="socket-reporter", daemon=True).start()


def open_sockets() -> int:
    """Open /mcp WebSocket sessions of every server process (this one counted live)."""
    here = _local_sockets()
    if not settings.REDIS_URL:
        return here
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    try:
        me, total, stale = _process_key().encode(), here, []
        for key, value in client.hgetall(SOCKETS_KEY).items():
            count, _, at = value.decode().partition(":")
            if key == me:
                continue
            if time.time() - float(at or 0) > 3 * SOCKETS_REPORT_EVERY:
                stale.append(key)  # a process that stopped without saying so
            else:
                total += int(count)
        if stale:
            client.hdel(SOCKETS_KEY, *stale)
    finally:
        client.close()
    return total


def metrics_view(request):
    try:
        raw = bearer_token(request.headers.get("Authorization"))
        require(principal_from_key(raw) if raw else principal_from_user(request.user), "admin")
    except DomainError as exc:
        return HttpResponse(exc.message, status=errors.lookup(exc)[1])
    from personamcp.rpc import consumer

    ACTIVE_SESSIONS.set(consumer.active_sessions)
    try:
        QUEUE_DEPTH.set(queue_depth())
    except Exception:  # Redis down: readyz says so; keep serving the other metrics
        QUEUE_DEPTH.set(-1)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
