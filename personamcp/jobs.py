"""Enqueue background work the same way in both runtime modes.

Scaled mode (``REDIS_URL``): ``task.delay`` onto the Celery broker, after commit.
Embedded mode: the task runs on an in-process thread pool after commit, so that a reply does
not wait for post-turn work, and periodic tasks run on an in-process scheduler thread.

Back-pressure (embedded mode): at most ``PERSONAMCP["MAX_PENDING_JOBS"]`` jobs are queued or
running. A thread that commits one more (a request) waits for a slot, in arrival order, before
it queues its job: a saturated server slows its turns down to what the background work
sustains, instead of queueing without bound (bench/soak.py measured 12 turns per stored
memory at 100 concurrent turns: the two job threads got their share of SQLite's one write lock
among 64 request threads). Nothing is dropped: a job's own follow-up work (a reflection, a
rescoring) is queued at once, since a job thread that waited for a slot would block the pool
that frees them; and after ``ADMIT_TIMEOUT`` seconds without a slot the job is queued anyway,
over the bound, with a warning.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction

from personamcp import hooks

log = logging.getLogger(__name__)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_pending: set[Future] = set()
_room = threading.Lock()  # guards _admitted and _waiters
_admitted = 0  # jobs queued or running on the pool (slots taken)
_waiters: deque[threading.Event] = deque()  # callers waiting for a slot, oldest first
_local = threading.local()  # .in_job: this thread is running a pool job
ADMIT_TIMEOUT = 30.0


def embedded() -> bool:
    return not settings.REDIS_URL


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = int(settings.PERSONAMCP.get("JOB_THREADS", 2))
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobs")
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


def _run_job(task, args: tuple, kwargs: dict):
    _local.in_job = True
    try:
        return _run_inline(task, args, kwargs)
    finally:
        _local.in_job = False


def _admit() -> None:
    """Take a slot for one job, waiting (in arrival order) while all are taken. A pool job's
    own follow-up work does not wait: only the pool frees slots. After ``ADMIT_TIMEOUT`` seconds
    the job takes one anyway (over the bound, never a deadlock, never a lost job)."""
    global _admitted
    limit = settings.PERSONAMCP.get("MAX_PENDING_JOBS", 256)
    with _room:
        if getattr(_local, "in_job", False) or (_admitted < limit and not _waiters):
            _admitted += 1
            return
        turn = threading.Event()
        _waiters.append(turn)
    if turn.wait(ADMIT_TIMEOUT):
        return  # a finished job handed its slot over
    with _room:
        if turn.is_set():
            return
        _waiters.remove(turn)
        _admitted += 1
    log.warning(
        "background queue full (%d jobs) for %.0f s: queued over the limit",
        _admitted,
        ADMIT_TIMEOUT,
    )


def _done(future: Future) -> None:
    """A job finished: its slot goes to the longest waiting caller, if any."""
    global _admitted
    _pending.discard(future)
    with _room:
        if _waiters and _admitted <= settings.PERSONAMCP.get("MAX_PENDING_JOBS", 256):
            _waiters.popleft().set()
        else:
            _admitted -= 1


def pending() -> int:
    """Background jobs queued or running in this process (embedded mode)."""
    return _admitted


def enqueue(task, *args, **kwargs) -> None:
    """Run ``task(*args, **kwargs)`` in the background once the current transaction commits."""

    def submit() -> None:
        if embedded():
            _admit()
            try:
                future = _executor().submit(_run_job, task, args, kwargs)
            except BaseException:
                _done(Future())
                raise
            _pending.add(future)
            future.add_done_callback(_done)
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
