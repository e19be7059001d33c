"""Short exclusive locks that hold across processes, and the identity of their holders.

Scaled mode (``REDIS_URL``): redis-py's ``Lock``, whose release and extend are single Lua
scripts that compare the holder's token first, so a holder whose lock expired and was taken by
another process never deletes or extends the other's lock. Embedded mode (one server process):
the local cache, with the compare-and-act steps under a process-wide mutex.

Every token starts with the holder's ``process_owner()`` (host, pid, process start time), so a
lock left behind by a process that was killed can be recognised and broken at once
(``lock_break_if_dead``) instead of keeping its conversation busy until it expires.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime

import psutil
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from personamcp.exceptions import Busy

log = logging.getLogger(__name__)
_local_mutex = threading.Lock()


# --- who holds a lock or runs a turn ------------------------------------------------------


# Start times above this are hundredths of a second since the epoch (1973 on), below it clock
# ticks since boot (three years of uptime at 100 ticks a second).
EPOCH_HUNDREDTHS = 10**10


def _start_time(pid: int) -> int:
    """When ``pid`` started. On Linux its ``starttime`` in clock ticks since boot (``/proc``):
    a step of the wall clock (NTP, a virtual machine resyncing its clock) does not move it,
    while psutil's create time (the boot time, derived from the wall clock, plus those ticks)
    moves with every step. Elsewhere that create time, in hundredths of a second."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # the fields after the command name in parentheses; starttime is the 22nd field
            return int(stat.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return int(psutil.Process(pid).create_time() * 100)


def process_owner() -> str:
    """``host:pid:start``: this process, told apart from a later process with the same pid."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_own_start(pid)}"


@functools.cache
def _own_start(pid: int) -> int:
    """This process's start time, read once (by pid: a forked child reads its own)."""
    return _start_time(pid)


def owner_alive(owner: str, *, lease_until: datetime | None = None) -> bool:
    """Whether the process ``owner`` may still be working.

    A process on this host is alive exactly when its pid runs with the same start time. A
    process on another host cannot be checked from here: it counts as alive until its lease
    (kept fresh while it works) has expired.
    """
    host, _, rest = owner.partition(":")
    pid_text, _, start_text = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return lease_until is None or lease_until > timezone.now()
    try:
        process = psutil.Process(int(pid_text))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if not start_text.isdigit():
            return False
        recorded = int(start_text)
        # An owner in hundredths of a second since the epoch was written without /proc (or
        # by a process of the previous release): compare it with the create time.
        started = (
            int(process.create_time() * 100)
            if recorded > EPOCH_HUNDREDTHS
            else _start_time(process.pid)
        )
        # the same process when it started at the same time (to a second, for the create
        # time, whose boot time each process computes anew)
        return abs(started - recorded) < 100
    except psutil.Error:  # no such process (or not ours to inspect: then it is not ours)
        return False


def _token_owner(token: str | None) -> str | None:
    return token.rsplit("|", 1)[0] if token and "|" in token else None


# --- the two lock backends ----------------------------------------------------------------


class _RedisLock:
    """redis-py's Lock: acquire with SET NX PX, extend and release by token in Lua."""

    def __init__(self, key: str, ttl: float):
        self.lock = _redis().lock(_redis_key(key), timeout=ttl, thread_local=False)

    def acquire(self, token: str) -> bool:
        return bool(self.lock.acquire(blocking=False, token=token))

    def extend(self) -> bool:
        from redis.exceptions import LockError

        try:
            return bool(self.lock.reacquire())
        except LockError:
            return False

    def release(self) -> bool:
        from redis.exceptions import LockError

        try:
            self.lock.release()
            return True
        except LockError:
            return False


class _CacheLock:
    """The local cache (embedded mode: one process); compare-and-act under a mutex."""

    def __init__(self, key: str, ttl: float):
        self.key, self.ttl, self.token = key, ttl, ""

    def acquire(self, token: str) -> bool:
        self.token = token
        return cache.add(self.key, token, timeout=self.ttl)

    def extend(self) -> bool:
        with _local_mutex:
            return cache.get(self.key) == self.token and cache.touch(self.key, self.ttl)

    def release(self) -> bool:
        with _local_mutex:
            if cache.get(self.key) != self.token:
                return False
            cache.delete(self.key)
            return True


def _redis():
    from personamcp.cache import redis_client

    return redis_client()


def _redis_key(key: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "personamcp"
    return f"{prefix}:lock:{key}"


def _backend(key: str, ttl: float):
    return _RedisLock(key, ttl) if settings.REDIS_URL else _CacheLock(key, ttl)


class HeldLock:
    """A lock this process holds: ``extend()`` it while working, ``release()`` it when done."""

    def __init__(self, key: str, backend, token: str):
        self.key, self.backend, self.token = key, backend, token

    def extend(self) -> bool:
        """Push the expiry back by the lock's ttl; False (and logged) when it was lost."""
        if self.backend.extend():
            return True
        log.warning("lock %s expired and may be held by another process now", self.key)
        return False

    def release(self) -> bool:
        """Release the lock if it is still ours; a lock taken over by another is left alone."""
        if self.backend.release():
            return True
        log.warning("lock %s was no longer ours at release; left as it is", self.key)
        return False

    def __call__(self) -> bool:  # ``keep_lock()`` in long loops
        return self.extend()


def lock_acquire(key: str, *, ttl: float, message: str) -> HeldLock:
    """Take ``key`` for ``ttl`` seconds or raise ``Busy(message)``."""
    backend = _backend(key, ttl)
    token = f"{process_owner()}|{uuid.uuid4().hex}"
    if not backend.acquire(token):
        raise Busy(message)
    return HeldLock(key, backend, token)


@contextlib.contextmanager
def busy_lock(key: str, *, ttl: float, message: str) -> Iterator[HeldLock]:
    """Hold ``key`` or raise ``Busy(message)``; yields the ``HeldLock`` (call it to extend).

    The expiry frees the lock when the process holding it dies; only the holder releases it,
    and a holder whose lock expired and was taken over leaves the new holder's lock alone.
    """
    held = lock_acquire(key, ttl=ttl, message=message)
    try:
        yield held
    finally:
        held.release()


def lock_holder(key: str) -> str | None:
    """The ``process_owner()`` of the process holding ``key``, if it is held."""
    if settings.REDIS_URL:
        raw = _redis().get(_redis_key(key))
        token = raw.decode() if isinstance(raw, bytes) else raw
    else:
        token = cache.get(key)
    return _token_owner(token)


def lock_break(key: str, *, owner: str) -> bool:
    """Delete ``key`` if (and only if) it is still held by ``owner``; True when deleted."""
    if settings.REDIS_URL:
        client = _redis()
        raw = client.get(_redis_key(key))
        token = raw.decode() if isinstance(raw, bytes) else raw
        if _token_owner(token) != owner:
            return False
        from redis.exceptions import LockError

        stale = client.lock(_redis_key(key), thread_local=False)
        stale.local.token = token.encode()
        try:
            stale.release()  # compare-and-delete in one script: a new holder's lock stays
        except LockError:
            return False
        return True
    with _local_mutex:
        if _token_owner(cache.get(key)) != owner:
            return False
        cache.delete(key)
        return True


def lock_break_if_dead(key: str) -> bool:
    """Break ``key`` when the process holding it is known to be dead (on this host; a holder
    on another host keeps its lock until it expires)."""
    owner = lock_holder(key)
    if owner is None or owner_alive(owner):
        return False
    if lock_break(key, owner=owner):
        log.warning("broke lock %s held by %s, a process that is gone", key, owner)
        return True
    return False
