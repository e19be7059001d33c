"""Turn locks: extend and release are atomic and by owner, in both runtime modes."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from personamcp import locks


def _expire(key: str) -> None:
    """What the lock's expiry does (the holder stalled past its ttl)."""
    if settings.REDIS_URL:
        locks._redis().delete(locks._redis_key(key))
    else:
        cache.delete(key)


def test_a_holder_never_releases_or_extends_a_lock_it_lost():
    key = "test-lock:lost"
    first = locks.lock_acquire(key, ttl=60, message="busy")
    _expire(key)
    second = locks.lock_acquire(key, ttl=60, message="busy")
    assert first.extend() is False
    assert first.release() is False
    assert locks.lock_holder(key) == locks.process_owner()  # still the second holder's lock
    assert second.extend() is True
    assert second.release() is True
    assert locks.lock_holder(key) is None


def test_busy_while_held_and_free_after_release():
    key = "test-lock:busy"
    with locks.busy_lock(key, ttl=60, message="taken"):
        try:
            locks.lock_acquire(key, ttl=60, message="taken")
        except locks.Busy as exc:
            assert exc.message == "taken"
        else:
            raise AssertionError("a held lock was acquired twice")
    locks.lock_acquire(key, ttl=60, message="taken").release()


def test_only_the_owner_named_can_break_a_lock():
    key = "test-lock:break"
    held = locks.lock_acquire(key, ttl=60, message="busy")
    assert locks.lock_break(key, owner="elsewhere:1:2") is False
    assert locks.lock_break_if_dead(key) is False  # this process is alive
    assert locks.lock_break(key, owner=locks.process_owner()) is True
    assert held.release() is False


def test_a_step_of_the_wall_clock_leaves_a_live_holder_alive(monkeypatch):
    """psutil's create time moves with the wall clock (a VM resyncing it moved it by seconds
    mid-run); the owner's start time must not, or a live holder's lock gets broken."""
    import psutil

    key = "test-lock:clock"
    held = locks.lock_acquire(key, ttl=60, message="busy")
    stepped = psutil.Process.create_time
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: stepped(self) - 3.0)
    assert locks.owner_alive(locks.process_owner())
    assert locks.lock_break_if_dead(key) is False
    assert held.release() is True


def test_an_owner_written_in_the_previous_format_is_still_recognised():
    """Before clock ticks, the start was psutil's create time in hundredths of a second: a
    process of the previous release, still running during an upgrade, stays alive."""
    import os
    import socket

    import psutil

    pid = os.getpid()
    hundredths = int(psutil.Process(pid).create_time() * 100)
    assert locks.owner_alive(f"{socket.gethostname()}:{pid}:{hundredths}")
    assert not locks.owner_alive(f"{socket.gethostname()}:{pid}:{hundredths - 500}")
    assert locks.owner_alive(locks.process_owner())
    ticks = int(locks.process_owner().rsplit(":", 1)[1])
    assert not locks.owner_alive(f"{socket.gethostname()}:{pid}:{ticks + 500}")


def test_a_lock_of_another_host_is_left_to_expire():
    key = "test-lock:remote"
    assert locks._backend(key, 60).acquire("otherhost:1:2|x")
    assert locks.lock_holder(key) == "otherhost:1:2"
    assert locks.lock_break_if_dead(key) is False
    assert locks.lock_break(key, owner="otherhost:1:2") is True
