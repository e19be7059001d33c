"""Reflection: cited insights from the LLM, a plain summary without one, queued at a threshold."""

from __future__ import annotations

from memory.models import Memory, MemoryIndexState
from memory.services import memory_reflect
from tests.conftest import eventually


def test_offline_reflection_stores_a_summary_citing_sources(alice, store, settings):
    settings.LLM_PROVIDER = "offline"
    sources = [store("Bob paid his debt."), store("Bob brought flowers."), store("Bob smiled.")]
    [reflection] = memory_reflect(persona=alice)
    assert reflection.kind == "reflection"
    assert reflection.metadata["method"] == "summary"
    assert sorted(reflection.metadata["sources"]) == sorted(m.id for m in sources)
    assert "Bob paid his debt." in reflection.content
    assert memory_reflect(persona=alice) == []  # nothing new since


def test_llm_reflection_stores_insights_with_their_citations(alice, store, fake_llm):
    a = store("Bob paid his debt.", importance=0.4)
    b = store("Bob brought flowers.", importance=0.6)
    c = store("The roof leaks.", importance=0.3)
    # Newest first in the prompt: 1 = c, 2 = b, 3 = a.
    fake_llm.reply = (
        "Bob is becoming a friend (2, 3)\n- The inn needs repairs (1)\nno citation here"
    )
    reflections = memory_reflect(persona=alice)
    assert [r.content for r in reflections] == ["Bob is becoming a friend", "The inn needs repairs"]
    assert reflections[0].metadata == {
        "sources": [b.id, a.id],
        "method": "llm",
        "importance_method": "given",
    }
    assert reflections[1].metadata["sources"] == [c.id]
    assert reflections[0].importance == 0.6
    prompt = fake_llm.requests[-1]["body"]["messages"][0]["content"]
    assert "1. The roof leaks." in prompt


def test_llm_failure_falls_back_to_the_summary(alice, store, fake_llm):
    store("Bob paid his debt.")
    fake_llm.mode = "error"
    [reflection] = memory_reflect(persona=alice)
    assert reflection.metadata["method"] == "summary"


def test_accumulated_importance_queues_a_reflection(demo, celery_worker, memory_settings, settings):
    """Passing the threshold enqueues the reflection task (in-process pool or Celery worker),
    which stores a reflection citing the memories; below it nothing is queued."""
    from memory.services import memory_store

    settings.LLM_PROVIDER = "offline"
    memory_settings(REFLECTION_THRESHOLD=1.2)
    alice = demo["alice"]
    first = memory_store(persona=alice, content="A quiet morning at the inn.", importance=0.5)
    assert MemoryIndexState.objects.get(persona=alice).reflection_queued_at is None
    second = memory_store(persona=alice, content="My mother died yesterday.", importance=0.9)
    reflection = eventually(lambda: Memory.objects.filter(persona=alice, kind="reflection").first())
    assert sorted(reflection.metadata["sources"]) == sorted([first.id, second.id])
    state = eventually(
        lambda: MemoryIndexState.objects.filter(persona=alice, reflection_queued_at=None).first()
    )
    assert state.importance_since_reflection == 0.0 and state.last_reflection_at is not None
