"""A per-process cache of serialized read results that is exact, not time-based.

The hottest read of the protocol (``persona.get``) would otherwise cost a thread hop and
several queries per call. An entry remembers the database's *data version* at the moment it
was computed and is used only while that version is unchanged, so a result is never stale:

- SQLite (embedded mode): ``PRAGMA data_version`` on one dedicated read-only connection
  changes whenever any other connection, in this process or any other (a ``manage.py shell``,
  a second server), commits a change to the database file. Reading it costs a few
  microseconds, so hits are served on the event loop without a thread hop or a query.
  On the event loop it is read once per loop iteration: every frame handled in one
  iteration arrived before any reply of that iteration left, so they are concurrent with
  any commit made meanwhile, and the first frame of the next iteration reads it again.
  The watcher connection is closed after ``IDLE_SECONDS`` without a read and opened again
  when needed: while any connection of a process is open, SQLite keeps the descriptors of
  that process's closed connections to the same file open (their POSIX locks would otherwise
  be lost), so a watcher open for good kept one descriptor per worker thread that had ever
  used the database. Versions carry the connection's generation: values of two connections
  are never compared, and entries computed before a reopen are missed once.
- Any other database (PostgreSQL in scaled mode): there is no cheap exact version, and a
  signal-bumped counter in Redis would miss bulk writes (``QuerySet.update``, ``bulk_create``)
  of the counted objects; the cache is disabled and every call reads the database.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections

_DISABLED = object()
IDLE_SECONDS = 10.0


class DataVersion:
    """The database-wide change counter (``None`` when the database offers no exact one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | object | None = None
        self._memo: tuple[asyncio.AbstractEventLoop, int | None] | None = None
        self._generation = 0  # one per watcher connection opened
        self._used = 0.0
        self._closer: threading.Timer | None = None

    def _connect(self) -> sqlite3.Connection | object:
        settings_dict = connections["default"].settings_dict
        name = str(settings_dict.get("NAME") or "")
        if connections["default"].vendor != "sqlite" or not name or "memory" in name:
            return _DISABLED
        # Never written through; autocommit so that no read transaction pins an old snapshot.
        return sqlite3.connect(name, check_same_thread=False, isolation_level=None)

    def current(self) -> int | None:
        """The current version, or ``None`` when caching is not possible."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._read()
        memo = self._memo
        if memo is not None and memo[0] is loop:
            return memo[1]
        value = self._read()
        self._memo = (loop, value)
        loop.call_soon(self._forget)
        return value

    def _forget(self) -> None:
        self._memo = None

    def _read(self) -> int | None:
        with self._lock:
            if self._conn is None:
                self._conn = self._connect()
                if self._conn is not _DISABLED:
                    self._generation += 1
                    self._close_later(IDLE_SECONDS)
            if self._conn is _DISABLED:
                return None
            self._used = time.monotonic()
            try:
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                return None
            return (self._generation << 48) + version

    def _close_later(self, delay: float) -> None:
        self._closer = threading.Timer(delay, self._close_if_idle)
        self._closer.daemon = True
        self._closer.start()

    def _close_if_idle(self) -> None:
        with self._lock:
            if not isinstance(self._conn, sqlite3.Connection):
                return
            idle = time.monotonic() - self._used
            if idle < IDLE_SECONDS:
                self._close_later(IDLE_SECONDS - idle)
                return
            self._conn.close()
            self._conn = None

    def reset(self) -> None:
        """Forget the watcher connection (tests that swap databases)."""
        with self._lock:
            if self._closer is not None:
                self._closer.cancel()
                self._closer = None
            if isinstance(self._conn, sqlite3.Connection):
                self._conn.close()
            self._conn = None
            self._memo = None


data_version = DataVersion()


class ReadCache:
    """Results by key, each valid only while the database's data version is unchanged."""

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._entries: dict[str, tuple[int, Any]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        """The cached value for ``key`` if the database has not changed since it was computed."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry[0] != data_version.current():
            self._entries.pop(key, None)
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def compute(self, func: Callable[[], Any], keys: Callable[[Any], Iterable[str]]) -> Any:
        """Run ``func`` (database access allowed) and cache its value under ``keys(value)``.

        The version is read *before* the query: a change committed meanwhile makes the entry
        invalid at once instead of caching old data under the new version.
        """
        version = data_version.current()
        value = func()
        if version is not None:
            if len(self._entries) >= self.maxsize:
                self._entries.clear()
            for key in keys(value):
                self._entries[key] = (version, value)
        return value

    def clear(self) -> None:
        self._entries.clear()
