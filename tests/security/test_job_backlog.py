"""A saturated server does not queue background work without bound (embedded mode): past
``PERSONAMCP["MAX_PENDING_JOBS"]`` queued jobs the committing thread waits for room, so memory
stays bounded (bench/soak.py found the queue growing with every turn) and nothing is lost."""

from __future__ import annotations

import threading

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
