"""A saturated server does not queue background work without bound (embedded mode): past
``PERSONAMCP["MAX_PENDING_JOBS"]`` queued jobs the committing thread waits for room, so memory
stays bounded (bench/soak.py found the queue growing with every turn) and nothing is lost."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from personamcp import jobs
from personamcp.celery import app

pytestmark = pytest.mark.django_db(transaction=True)
gate = threading.Event()
ran: list[tuple[str, str]] = []


@app.task(name="tests.security.hold")
def hold(label: str) -> None:
    ran.append((label, threading.current_thread().name))
    assert gate.wait(30)


@app.task(name="tests.security.note")
def note(label: str) -> None:
    ran.append((label, threading.current_thread().name))


@pytest.fixture
def embedded_only():
    if not jobs.embedded():
        pytest.skip("scaled mode: the backlog waits in the Celery broker, not in this process")
    gate.clear()
    ran.clear()
    yield
    gate.set()
    jobs.wait_idle()


def test_a_full_queue_makes_the_caller_wait_for_room(settings, embedded_only):
    settings.PERSONAMCP = {**settings.PERSONAMCP, "MAX_PENDING_JOBS": 3}
    for i in range(3):  # two hold the pool's two workers, one waits in its queue
        jobs.enqueue(hold, f"held {i}")
    assert len(jobs._pending) == 3
    caller = threading.Thread(target=jobs.enqueue, args=(note, "over the limit"))
    caller.start()
    caller.join(0.5)
    assert caller.is_alive()  # no room: the committing thread waits, nothing more is queued
    assert len(jobs._pending) == 3 and "over the limit" not in [label for label, _ in ran]
    gate.set()
    caller.join(10)
    assert not caller.is_alive()
    jobs.wait_idle()
    assert sorted(label for label, _ in ran) == ["held 0", "held 1", "held 2", "over the limit"]
    assert dict(ran)["over the limit"].startswith("jobs")  # it ran on the pool, not the caller
    assert not jobs._pending


@app.task(name="tests.security.follow_up")
def follow_up(label: str) -> None:
    """A job that queues more work (as an after-turn job queues a reflection or rescoring)."""
    ran.append((label, threading.current_thread().name))
    jobs.enqueue(note, f"{label}: its follow-up")


def _until(condition) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_jobs_own_follow_up_work_never_waits_for_room(settings, embedded_only):
    """Only the pool frees slots: a job thread waiting for one would block it (a full queue of
    after-turn jobs that each queue a rescoring stalled both job threads)."""
    settings.PERSONAMCP = {**settings.PERSONAMCP, "MAX_PENDING_JOBS": 2}
    jobs.enqueue(follow_up, "first")
    jobs.enqueue(follow_up, "second")
    jobs.wait_idle()
    assert sorted(label for label, _ in ran) == [
        "first",
        "first: its follow-up",
        "second",
        "second: its follow-up",
    ]
    assert jobs.pending() == 0 and not jobs._waiters


def test_waiting_callers_get_their_slots_in_arrival_order(settings, embedded_only):
    settings.PERSONAMCP = {**settings.PERSONAMCP, "MAX_PENDING_JOBS": 1}
    jobs.enqueue(hold, "held")
    callers = []
    for n, label in enumerate(["first waiter", "second waiter", "third waiter"], start=1):
        callers.append(threading.Thread(target=jobs.enqueue, args=(note, label)))
        callers[-1].start()
        _until(lambda n=n: len(jobs._waiters) == n)
    gate.set()
    for caller in callers:
        caller.join(10)
    jobs.wait_idle()
    assert [label for label, _ in ran] == ["held", "first waiter", "second waiter", "third waiter"]
    assert jobs.pending() == 0


def test_a_caller_that_waited_too_long_queues_over_the_limit(
    settings, embedded_only, monkeypatch, caplog
):
    """Back-pressure never loses a job: past ADMIT_TIMEOUT it is queued anyway, and said so."""
    settings.PERSONAMCP = {**settings.PERSONAMCP, "MAX_PENDING_JOBS": 1}
    monkeypatch.setattr(jobs, "ADMIT_TIMEOUT", 0.1)
    jobs.enqueue(hold, "held")
    with caplog.at_level(logging.WARNING, logger="personamcp.jobs"):
        jobs.enqueue(hold, "over the limit")
    assert "queued over the limit" in caplog.text
    assert jobs.pending() == 2 and not jobs._waiters
    gate.set()
    jobs.wait_idle()
    assert sorted(label for label, _ in ran) == ["held", "over the limit"]
    assert jobs.pending() == 0


def test_the_server_hands_free_memory_back_on_a_timer(settings, monkeypatch):
    """personamcp/malloc.py: a daemon thread calls glibc's malloc_trim(0) (bench/soak.py shows
    why); 0 seconds turns it off."""
    from personamcp import malloc

    if malloc._malloc_trim() is None:
        pytest.skip("not glibc")
    monkeypatch.setattr(malloc, "_started", False)
    settings.PERSONAMCP = {**settings.PERSONAMCP, "MALLOC_TRIM_SECONDS": 0}
    assert malloc.start_trimmer() is False
    before = {t.ident for t in threading.enumerate() if t.name == "malloc-trim"}
    settings.PERSONAMCP = {**settings.PERSONAMCP, "MALLOC_TRIM_SECONDS": 0.01}
    assert malloc.start_trimmer() is True
    assert malloc.start_trimmer() is True  # idempotent: one thread
    started = [t for t in threading.enumerate() if t.name == "malloc-trim"]
    assert len({t.ident for t in started} - before) == 1
    assert malloc._malloc_trim()(0) in (0, 1)  # the real call answers (1: memory released)


def test_the_server_fixes_glibcs_mmap_threshold(settings, monkeypatch):
    """personamcp/malloc.py: large blocks stay on mmap (glibc's dynamic threshold sent them to
    the heaps, where they fragmented); 0 or glibc's own environment variable leave it alone."""
    from personamcp import malloc

    if malloc._malloc_trim() is None:
        pytest.skip("not glibc")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    settings.PERSONAMCP = {**settings.PERSONAMCP, "MALLOC_MMAP_THRESHOLD": 0}
    assert malloc.fix_mmap_threshold() is False
    settings.PERSONAMCP = {**settings.PERSONAMCP, "MALLOC_MMAP_THRESHOLD": 131072}
    assert malloc.fix_mmap_threshold() is True
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert malloc.fix_mmap_threshold() is False
