"""Access-time bookkeeping of searched memories, off the read path.

A search used to end with an UPDATE of what it returned (``access_count + 1``,
``last_accessed_at = now``): a write, and on SQLite a write lock, inside every read. Now a
search only records the access here; the rows are written in one batch a moment later
(``MEMORY["ACCESS_FLUSH_SECONDS"]``, by a timer thread), or at once by ``flush()``.

Within this process nothing is lost meanwhile: a search reports access counts and times that
include what is still pending, and ranks recency by the latest access, flushed or not. Another
process sees the rows when the batch lands. ``ACCESS_FLUSH_SECONDS = 0`` writes at once, as
before. Pending accesses are written at exit too.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F

log = logging.getLogger("personamcp.memory")

_lock = threading.Lock()
# memory id -> [accesses not yet written, latest access time]
_pending: dict[int, list] = {}
_timer: threading.Timer | None = None


def _delay() -> float:
    return float(settings.MEMORY.get("ACCESS_FLUSH_SECONDS", 1.0))


def record(memories, now: datetime) -> None:
    """Count one access of each memory at ``now``; their objects show it at once."""
    if not memories:
        return
    with _lock:
        for memory in memories:
            entry = _pending.get(memory.id)
            if entry is None:
                entry = _pending[memory.id] = [0, now]
            entry[0] += 1
            entry[1] = max(entry[1], now)
            memory.access_count += entry[0]
            memory.last_accessed_at = entry[1]
    delay = _delay()
    if delay <= 0:
        flush()
    else:
        _schedule(delay)


def latest(ids) -> dict[int, datetime]:
    """The latest pending access time of those of ``ids`` that have one."""
    if not _pending:
        return {}
    with _lock:
        return {pk: _pending[pk][1] for pk in ids if pk in _pending}


def _schedule(delay: float) -> None:
    global _timer
    with _lock:
        if _timer is not None or not _pending:
            return
        _timer = threading.Timer(delay, _flush_from_timer)
        _timer.daemon = True
        _timer.name = "memory-access-flush"
        _timer.start()


def _flush_from_timer() -> None:
    global _timer
    with _lock:
        _timer = None
    try:
        flush()
    finally:
        close_old_connections()
        connection.close()


def flush() -> int:
    """Write every pending access now (one UPDATE per distinct count and time); how many rows.

    On a database error the accesses stay pending for the next flush.
    """
    with _lock:
        batch = dict(_pending)
        _pending.clear()
    if not batch:
        return 0
    from memory.models import Memory
    from personamcp.db import lock_in_order

    groups: dict[tuple[int, datetime], list[int]] = defaultdict(list)
    for pk, (count, moment) in batch.items():
        groups[count, moment].append(pk)
    try:
        with transaction.atomic():
            lock_in_order(Memory.objects.filter(id__in=list(batch)))  # see personamcp.db
            for (count, moment), ids in groups.items():
                Memory.objects.filter(id__in=ids).update(
                    last_accessed_at=moment, access_count=F("access_count") + count
                )
    except Exception:
        log.warning("memory access times not written yet; kept for the next flush", exc_info=True)
        with _lock:
            for pk, (count, moment) in batch.items():
                entry = _pending.setdefault(pk, [0, moment])
                entry[0] += count
                entry[1] = max(entry[1], moment)
        return 0
    return len(batch)


def discard() -> None:
    """Forget pending accesses without writing them, and the timer (tests)."""
    global _timer
    with _lock:
        _pending.clear()
        if _timer is not None:
            _timer.cancel()
            _timer = None


@atexit.register
def _flush_at_exit() -> None:
    if _pending:
        try:
            flush()
        except Exception:  # the database may be gone already
            log.debug("pending memory accesses lost at exit", exc_info=True)
