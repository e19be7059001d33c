"""Decay and pruning: counted, logged, dry-run safe, never touching protected memories."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from memory.models import Memory
from memory.services import memory_decay, memory_prune


def age(memory, days: float) -> None:
    moment = timezone.now() - timedelta(days=days)
    Memory.objects.filter(id=memory.id).update(last_accessed_at=moment, created_at=moment)


def test_decay_lowers_only_old_unprotected_memories(store, caplog):
    old_low = store("old and dull", importance=0.4)
    old_high = store("old but vital", importance=0.9)
    recent = store("recent", importance=0.4)
    floor = store("already at the floor", importance=0.05)
    for m in (old_low, old_high, floor):
        age(m, 30)
    with caplog.at_level("INFO", logger="memory.services"):
        result = memory_decay()
    assert result["decayed"] == 1 and result["by_persona"] == {"alice": 1}
    assert "memory decay" in caplog.text
    assert Memory.objects.get(id=old_low.id).importance == pytest.approx(0.38)
    assert Memory.objects.get(id=old_high.id).importance == 0.9
    assert Memory.objects.get(id=recent.id).importance == 0.4
    assert Memory.objects.get(id=floor.id).importance == 0.05


def test_decay_dry_run_changes_nothing(store):
    m = store("old and dull", importance=0.4)
    age(m, 30)
    out = StringIO()
    call_command("decay_memories", "--dry-run", stdout=out)
    assert "would decay 1 memories" in out.getvalue()
    assert Memory.objects.get(id=m.id).importance == 0.4
    call_command("decay_memories", stdout=out)
    assert Memory.objects.get(id=m.id).importance < 0.4


def test_decay_never_goes_below_the_floor(store, memory_settings):
    memory_settings(DECAY_RATE=0.9, DECAY_MIN=0.1)
    m = store("old", importance=0.3)
    age(m, 30)
    memory_decay()
    assert Memory.objects.get(id=m.id).importance == pytest.approx(0.1)


def test_prune_deletes_least_valuable_beyond_cap_and_keeps_protected(store, memory_settings):
    memory_settings(MAX_PER_PERSONA=10)
    protected_important = [store(f"vital {i}", importance=0.9) for i in range(4)]
    recently_used = [store(f"in use {i}", importance=0.1) for i in range(4)]
    candidates = [store(f"dull {i}", importance=0.1 + i * 0.01) for i in range(6)]
    for m in protected_important + candidates:
        age(m, 30)
    out = StringIO()
    call_command("prune_memories", "--dry-run", stdout=out)
    assert "would prune 4 memories" in out.getvalue()
    assert Memory.objects.count() == 14
    result = memory_prune()
    assert result["pruned"] == 4 and result["by_persona"] == {"alice": 4}
    left = set(Memory.objects.values_list("id", flat=True))
    assert {m.id for m in protected_important + recently_used} <= left
    assert {m.id for m in candidates[:4]}.isdisjoint(left)
    assert {m.id for m in candidates[4:]} <= left


def test_prune_stops_at_protected_memories(store, memory_settings):
    memory_settings(MAX_PER_PERSONA=10)
    for i in range(12):
        store(f"vital {i}", importance=0.95)
    assert memory_prune()["pruned"] == 0
    assert Memory.objects.count() == 12


def test_periodic_tasks_are_registered(settings):
    from personamcp import jobs

    assert settings.CELERY_BEAT_SCHEDULE["memory-decay"]["task"] == "memory.decay"
    assert settings.CELERY_BEAT_SCHEDULE["memory-prune"]["task"] == "memory.prune"
    plan = jobs.periodic_plan()
    assert plan["memory-decay"] == (settings.MEMORY["DECAY_EVERY"], "memory.decay", ())
    assert plan["memory-prune"] == (settings.MEMORY["PRUNE_EVERY"], "memory.prune", ())


def test_decay_task_runs_the_service(store):
    from memory.tasks import decay_task

    m = store("old and dull", importance=0.4)
    age(m, 30)
    assert decay_task.apply().get()["decayed"] == 1
