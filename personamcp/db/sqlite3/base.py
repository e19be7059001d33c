"""Django's SQLite backend with one writer at a time per process, the others queued.

SQLite lets one connection write at a time. A connection that finds the write lock taken
polls for it (``timeout``, the busy timeout) with growing sleeps of up to 100 ms, so under a
burst of writers (100 WebSocket clients each sending a turn at once) the writers that arrived
last, polling every millisecond, keep taking the lock from the ones that have waited longest;
some of those ran out of their timeout and the request failed with "database is locked".

Here the writers of one process queue on a lock first: a write transaction (``BEGIN
IMMEDIATE``, every ``atomic`` block with the ``transaction_mode`` setting) holds it from its
``BEGIN`` to its commit or rollback, and a write statement outside a transaction holds it for
that statement. Waiting threads sleep on the lock and are woken in turn as it is released;
only other processes (a ``manage.py`` command, a second server) are still met through
SQLite's busy timeout. A writer waits at most ``QUEUE_TIMEOUT`` seconds (60, or the busy
timeout if longer) for the others of its process, then fails as SQLite would.

The ``init_command`` statements are run here on cursors closed at once. Django runs them with
``conn.execute()`` and leaves the cursor to be freed; ``PRAGMA journal_mode=WAL`` answers a
row, so its statement stays active until the cursor is gone, and anything that holds every
object for a moment (``gc.get_objects()`` in a profiler, a memory probe, a debugger) kept it
alive: SQLite counts that pragma as a writing statement, so the connection's next ``COMMIT``
failed with "cannot commit transaction - SQL statements in progress" and, on a snapshot older
than another connection's commit, its ``BEGIN IMMEDIATE`` with "database is locked".
"""

from __future__ import annotations

import threading
import time

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

# Statements that write (or take the write lock) when run outside a transaction.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "VACUUM")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
QUEUE_TIMEOUT = 60.0


def write_lock(name: str) -> threading.Lock:
    """The lock of this process's writers to the database file ``name``."""
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


class QueuedConnection(base.Database.Connection):
    """An sqlite3 connection that knows its database's writer lock and the wait allowed."""

    write_lock: threading.Lock
    queue_timeout: float

    def acquire_write_lock(self) -> None:
        started = time.monotonic()
        if not self.write_lock.acquire(timeout=self.queue_timeout):
            raise OperationalError(
                "database is locked: waited "
                f"{time.monotonic() - started:.0f} s for this process's other writers"
            )


class QueuedCursor(base.SQLiteCursorWrapper):
    """A write statement run outside a transaction waits its turn among the writers."""

    connection: QueuedConnection

    def execute(self, query, params=None):
        return self._in_turn(super().execute, query, params)

    def executemany(self, query, param_list):
        return self._in_turn(super().executemany, query, param_list)

    def _in_turn(self, run, query, params):
        if self.connection.in_transaction or not _writes(query):
            return run(query, params)
        self.connection.acquire_write_lock()
        try:
            return run(query, params)
        finally:
            self.connection.write_lock.release()


def _writes(query: str) -> bool:
    return query.lstrip()[:8].upper().startswith(_WRITES)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._holds_write_lock = False

    def get_connection_params(self):
        params = super().get_connection_params()
        # Taken from Django's get_new_connection, run below (see the module's docstring).
        self._init_statements = [s.strip() for s in self.init_commands if s.strip()]
        self.init_commands = []
        params["factory"] = QueuedConnection
        return params

    def get_new_connection(self, conn_params):
        conn = super().get_new_connection(conn_params)
        for statement in self._init_statements:
            conn.execute(statement).close()  # closing resets the statement, whoever holds it
        conn.write_lock = write_lock(str(self.settings_dict["NAME"]))
        conn.queue_timeout = max(QUEUE_TIMEOUT, float(conn_params.get("timeout") or 0))
        return conn

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=QueuedCursor)

    def _start_transaction_under_autocommit(self):
        self.connection.acquire_write_lock()
        self._holds_write_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _commit(self):
        result = super()._commit()  # a failed commit is rolled back, which releases
        self._release_write_lock()
        return result

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_write_lock()

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            self.connection.write_lock.release()
