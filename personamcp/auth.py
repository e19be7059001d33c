"""Who is calling: API keys (REST and /mcp), staff sessions, and the local-development mode."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone
from rest_framework import authentication, permissions
from rest_framework.exceptions import AuthenticationFailed

from personamcp import actor as audit_context
from personamcp import hooks
from personamcp.exceptions import Forbidden, RateLimited, Unauthenticated
from personamcp.models import SCOPES, ApiKey, hash_key

log = logging.getLogger(__name__)
_RANK = {name: i for i, name in enumerate(SCOPES)}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``persona_ids`` None means every persona."""

    name: str
    scope: str
    key_id: int | None = None
    persona_ids: frozenset[str] | None = None
    dev: bool = False

    is_authenticated = True  # DRF treats request.user as authenticated

    @property
    def scopes(self) -> list[str]:
        return [s for s in SCOPES if _RANK[s] <= _RANK[self.scope]]

    @property
    def rate_key(self) -> str:
        return f"key:{self.key_id}" if self.key_id else f"anon:{self.name}"

    def allows(self, scope: str | None) -> bool:
        return scope is None or _RANK[self.scope] >= _RANK[scope]

    def may_access(self, persona_id: str) -> bool:
        return self.persona_ids is None or str(persona_id) in self.persona_ids


DEV_PRINCIPAL = Principal(name="local-development", scope="admin", dev=True)


def principal_from_key(raw: str) -> Principal:
    """Authenticate a raw API key; raises ``Unauthenticated`` for an unknown or revoked key."""
    if not raw or len(raw) > 200:
        raise Unauthenticated("invalid API key")
    key = ApiKey.objects.filter(key_hash=hash_key(raw)).first()
    if key is None or not key.usable:
        raise Unauthenticated("invalid API key")
    persona_ids = frozenset(str(p) for p in key.personas.values_list("id", flat=True))
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return Principal(name=key.name, scope=key.scope, key_id=key.pk, persona_ids=persona_ids or None)


def principal_from_user(user) -> Principal | None:
    """Staff users logged into the admin (the web chat page, the API docs) act with admin
    scope, narrowed by their role when they have one (``hooks.session_scope``): a viewer's
    session only reads, an author's writes, an operator's also runs bots."""
    if user is not None and getattr(user, "is_authenticated", False) and user.is_staff:
        scope = hooks.session_scope(user) if hooks.session_scope.provided else None
        return Principal(name=f"staff:{user.get_username()}", scope=scope or "admin")
    return None


def require(principal: Principal | None, scope: str | None) -> Principal:
    """Check that ``principal`` may use an operation needing ``scope``."""
    if principal is None:
        if settings.DEV_MODE:
            return DEV_PRINCIPAL
        raise Unauthenticated("authentication required: send an API key")
    if not principal.allows(scope):
        raise Forbidden(f"this API key lacks the {scope!r} scope")
    return principal


def require_persona(principal: Principal | None, persona_id: str) -> None:
    if principal is not None and not principal.may_access(persona_id):
        raise Forbidden("this API key does not cover this persona")


@functools.cache
def _counter_store() -> BaseCache:
    """The default cache backend, created once per process for counting.

    ``caches["default"]`` goes through a context-local lookup on every access, measurable on
    the hot path. A process-wide instance is equivalent: LocMemCache instances share one
    process-global store, and redis-py clients are thread-safe.
    """
    return caches.create_connection("default")


class _LocalCounts:
    """The rate-limit counters of one process, by (rate key, minute): the embedded mode, whose
    cache (local memory) is per process anyway. A dict under a lock instead of two cache
    operations per request, each with memcached key checks and pickling (10-20 us).

    A minute's counter is read during that minute and the next one (as the previous minute),
    so on entering a new minute the older ones are dropped: what the cache's expiry did.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}
        self._newest = 0

    def hit(self, rate_key: str, window: int) -> tuple[int, int]:
        with self._lock:
            counts = self._counts
            if window > self._newest:
                self._newest = window
                for stale in [k for k in counts if k[1] < window - 1]:
                    del counts[stale]
            key = (rate_key, window)
            count = counts.get(key, 0) + 1
            counts[key] = count
            return count, counts.get((rate_key, window - 1), 0)

    def refund(self, rate_key: str, window: int) -> None:
        with self._lock:
            key = (rate_key, window)
            if key in self._counts:
                self._counts[key] -= 1

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._newest = 0


local_counts = _LocalCounts()


def _count_hit(rate_key: str, window: int) -> tuple[int, int]:
    """Count one request of ``rate_key`` in minute ``window``; return the minute's count so far
    and the count of the minute before (0 when there is none).

    Redis: ``INCR`` and ``GET`` in one round trip (plus ``EXPIRE`` on the first hit of a
    window), atomic across processes. Otherwise the process's own counters (``local_counts``).
    """
    store = _counter_store()
    if not isinstance(store, RedisCache):
        return local_counts.hit(rate_key, window)
    cache_key = store.make_and_validate_key(f"rl:{rate_key}:{window}")
    client = store._cache.get_client(cache_key, write=True)
    pipe = client.pipeline(transaction=False)
    pipe.incr(cache_key)
    pipe.get(store.make_and_validate_key(f"rl:{rate_key}:{window - 1}"))
    count, previous = pipe.execute()
    if count == 1:
        client.expire(cache_key, 125)
    return count, int(previous or 0)


def _refund(rate_key: str, window: int) -> None:
    """Take back the hit of a refused request."""
    store = _counter_store()
    if isinstance(store, RedisCache):
        store.decr(f"rl:{rate_key}:{window}")
    else:
        local_counts.refund(rate_key, window)


def rate_limit(principal: Principal, *, per_minute: int | None = None) -> None:
    """A sliding one-minute window per key, counted in Redis across processes (scaled mode) or
    in the process (embedded mode).

    The hits of the current minute plus those of the minute before, weighted by how much of
    it still lies within the last 60 seconds, must stay within the limit: a burst across a
    minute boundary is not let through twice. A refused request is not counted. Raises
    ``RateLimited`` (-32029 / HTTP 429) with ``retry_after``, the seconds until a request
    would be accepted.
    """
    limit = per_minute or settings.PERSONAMCP["RATE_LIMIT_PER_MINUTE"]
    window, elapsed = divmod(time.time(), 60)
    window = int(window)
    rate_key = principal.rate_key
    count, previous = _count_hit(rate_key, window)
    if count <= limit and previous * (1 - elapsed / 60) + count <= limit:
        return
    _refund(rate_key, window)
    if count > limit:  # this minute alone is full: the next one, once this share has slid
        retry_after = 60 - elapsed + 60 / limit
    else:  # once the previous minute's share is below what is left of the limit
        retry_after = 60 * (1 - (limit - count) / previous) - elapsed
    raise RateLimited(
        round(max(retry_after, 0.1), 1), f"rate limit of {limit} requests per minute exceeded"
    )


class TooManyTurns(RateLimited):
    """-32029 with ``data.reason = "concurrent_turns"``: the key has too many turns running."""

    def __init__(self, limit: int):
        super().__init__(
            1.0,
            f"too many concurrent turns for this API key (limit {limit}); retry when one ends",
        )
        self.data.update({"reason": "concurrent_turns", "limit": limit})


_local_turns: dict[str, int] = {}
_local_turns_lock = threading.Lock()


def _turn_ttl() -> int:
    # A safety expiry for a slot whose process died mid-turn (Redis); a turn lasts at most
    # about the LLM timeout.
    return int(getattr(settings, "LLM_TIMEOUT", 60) * 2 + 60)


@contextlib.contextmanager
def turn_slot(principal: Principal | None):
    """Hold one of the key's concurrent-turn slots while a turn runs (``TooManyTurns`` if
    none is free). Counted in Redis across processes in the scaled mode, per process
    otherwise. ``PERSONAMCP_MAX_TURNS_PER_KEY`` (default 8); 0 turns the limit off."""
    limit = settings.PERSONAMCP.get("MAX_TURNS_PER_KEY", 0)
    if principal is None or not limit:
        yield
        return
    key = f"turns:{principal.rate_key}"
    store = _counter_store()
    if isinstance(store, RedisCache):
        cache_key = store.make_and_validate_key(key)
        client = store._cache.get_client(cache_key, write=True)
        count = client.incr(cache_key)
        client.expire(cache_key, _turn_ttl())

        def release() -> None:
            client.decr(cache_key)
    else:
        with _local_turns_lock:
            count = _local_turns.get(key, 0) + 1
            _local_turns[key] = count

        def release() -> None:
            with _local_turns_lock:
                _local_turns[key] = max(0, _local_turns.get(key, 1) - 1)

    try:
        if count > limit:
            raise TooManyTurns(limit)
        yield
    finally:
        release()


# --- DRF --------------------------------------------------------------------------------------


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <key>`` (or ``X-API-Key``) -> a ``Principal``."""

    def authenticate(self, request):
        raw = bearer_token(request.headers.get("Authorization")) or request.headers.get("X-API-Key")
        if not raw:
            return None
        try:
            principal = principal_from_key(raw)
        except Unauthenticated as exc:
            raise AuthenticationFailed(exc.message) from None
        return principal, principal

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="persona-mcp"'


def request_principal(request) -> Principal | None:
    if isinstance(request.auth, Principal):
        return request.auth
    return principal_from_user(getattr(request, "user", None))


class ScopedApiKeyPermission(permissions.BasePermission):
    """Reads need the ``read`` scope, writes ``write``; a view may set ``required_scope``."""

    def has_permission(self, request, view) -> bool:
        scope = getattr(view, "required_scope", None)
        if scope is None:
            scope = "read" if request.method in permissions.SAFE_METHODS else "write"
        request.principal = require(request_principal(request), scope)
        audit_context.set_principal(request.principal)
        rate_limit(request.principal)
        return True
