"""Enqueue background work the same way in both runtime modes.

Scaled mode (``REDIS_URL``): ``task.delay`` onto the Celery broker, after commit.
Embedded mode: the task runs on an in-process thread pool after commit, so that a reply does
not wait for post-turn work, and periodic tasks run on an in-process scheduler thread. When
``PERSONAMCP["MAX_PENDING_JOBS"]`` tasks are already queued or running (the pool cannot keep up
with a saturated server), the committing thread waits for one to finish before queueing its
own: the queue, and memory, stay bounded and the load slows down to what the background work
sustains.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.db import close_old_connections, transaction

from personamcp import hooks

log = logging.getLogger(__name__)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_pending: set[Future] = set()


def embedded() -> bool:
    return not settings.REDIS_URL


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jobs")
        return _pool


def _run_inline(task, args: tuple, kwargs: dict):
    close_old_connections()
    try:
        return task.apply(args=args, kwargs=kwargs, throw=True).get()
    except Exception:
        log.exception("background task %s failed", task.name)
        raise
    finally:
        close_old_connections()


def _wait_for_room(most: float = 30.0) -> None:
    """Back-pressure: while the pool is behind (a saturated server), the committing thread
    waits for a queued job to finish before adding its own, so the queue (and memory) stays
    bounded. It does not run the job itself: more threads writing at once only made SQLite
    time out on its write lock. After ``most`` seconds it queues anyway (never a deadlock)."""
    deadline = time.monotonic() + most
    while len(_pending) >= settings.PERSONAMCP.get("MAX_PENDING_JOBS", 10_000):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        wait(list(_pending), timeout=min(left, 1.0), return_when=FIRST_COMPLETED)


def enqueue(task, *args, **kwargs) -> None:
    """Run ``task(*args, **kwargs)`` in the background once the current transaction commits."""

    def submit() -> None:
        if embedded():
            _wait_for_room()
            future = _executor().submit(_run_inline, task, args, kwargs)
            _pending.add(future)
            future.add_done_callback(_pending.discard)
        else:
            task.delay(*args, **kwargs)

    transaction.on_commit(submit)


def wait_idle(timeout: float = 30.0) -> None:
    """Block until in-process background tasks are done (tests, shutdown)."""
    deadline = time.monotonic() + timeout
    while _pending and time.monotonic() < deadline:
        for future in list(_pending):
            with contextlib.suppress(Exception):  # failures are logged by _run_inline
                future.result(timeout=max(0.01, deadline - time.monotonic()))


def periodic_plan() -> dict[str, tuple[float, str, tuple]]:
    """``name -> (every seconds, task name, args)`` of ``settings.CELERY_BEAT_SCHEDULE``.

    The beat schedule is the one declaration of periodic work; the embedded scheduler runs it.
    """
    return {
        name: (float(entry["schedule"]), entry["task"], tuple(entry.get("args", ())))
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
    }


_scheduler_started = False


def start_embedded_scheduler() -> None:
    """Start the in-process scheduler (embedded mode, server process only). Idempotent."""
    global _scheduler_started
    plan = periodic_plan()
    if _scheduler_started or not embedded() or not plan:
        return
    _scheduler_started = True

    def loop() -> None:
        from personamcp.celery import app

        next_run = {name: time.monotonic() + every for name, (every, _, _) in plan.items()}
        while True:
            now = time.monotonic()
            for name, (every, task_name, args) in plan.items():
                if now >= next_run[name]:
                    next_run[name] = now + every
                    with contextlib.suppress(Exception):  # logged; keep the scheduler alive
                        _run_inline(app.tasks[task_name], args, {})
            time.sleep(1.0)

    threading.Thread(target=loop, name="embedded-scheduler", daemon=True).start()
    log.info("embedded scheduler started: %s", ", ".join(sorted(plan)))


def warm_up_in_background() -> None:
    """Run the apps' warm-ups (the embedding model) on a thread at server start, so the first
    turn does not wait."""

    def load() -> None:
        for name, warm_up in hooks.warm_ups:
            try:
                warm_up()
            except Exception:  # the first use will retry and report the problem
                log.exception("warm-up failed: %s", name)

    threading.Thread(target=load, name="embedding-warm-up", daemon=True).start()


def run_server_starts() -> None:
    """Run the apps' start-up work (``hooks.server_starts``) in this server process; a failure
    is logged and does not stop the server."""
    for name, start in hooks.server_starts:
        try:
            start()
        except Exception:
            log.exception("start-up work failed: %s", name)
