"""Storing and retrieving memories (runs on SQLite and on PostgreSQL+pgvector)."""

from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from memory import access
from memory.embeddings import embed, embed_one, embedding_info
from memory.exceptions import MemoryNotFound
from memory.models import Memory, MemoryIndexState
from memory.selectors import memory_get, memory_list, memory_search, memory_stats
from memory.services import memory_delete, memory_store, memory_store_many
from personamcp.exceptions import ValidationFailed


def test_embeddings_are_normalised_float32_384():
    vectors = embed(["the innkeeper is owed money", "a dragon attacked the village"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embed_one("the innkeeper is owed money"), vectors[0], atol=1e-5)
    info = embedding_info()
    assert info["dimensions"] == 384 and info["model"] == "all-MiniLM-L6-v2"
    assert info["backend"] in {"onnx", "torch"}


def test_similar_sentences_are_closer_than_unrelated_ones():
    a, b, c = embed(
        ["The player owes me ten gold.", "He still owes me 10 gold coins.", "Cats sleep a lot."]
    )
    assert float(a @ b) > float(a @ c) + 0.3


def test_store_scores_importance_and_persists(alice, store):
    memory = store("my mother died yesterday")
    fresh = Memory.objects.get(id=memory.id)
    assert fresh.persona_id == alice.id and fresh.kind == "episodic"
    assert fresh.importance >= 0.7
    assert fresh.metadata["importance_method"] == "heuristic"
    assert fresh.embedding.shape == (384,)
    assert MemoryIndexState.objects.get(persona=alice).revision == 1


def test_search_finds_the_relevant_memory_first(alice, store):
    store("The traveller Bob owes me three silver coins for the room.")
    store("It rained all day and the roof leaked.")
    store("I bought fresh bread from the baker.")
    found = memory_search(persona=alice, query="who owes me money?", limit=2)
    assert "owes me three silver" in found[0].memory.content
    assert set(found[0].scores) == {"relevance", "recency", "importance"}
    assert all(0.0 <= v <= 1.0 for s in found for v in s.scores.values())
    first = found[0]
    weights = {"relevance": 1.0, "recency": 0.5, "importance": 0.5}
    assert first.score == pytest.approx(sum(weights[k] * v for k, v in first.scores.items()))


def test_search_returns_memories_as_the_orm_reads_them(alice, store):
    stored = store("The lighthouse lamp is lit at dusk.", metadata={"source": "log", "n": 2})
    (found,) = memory_search(persona=alice, query="when is the lamp lit", limit=1, touch=False)
    fresh = Memory.objects.defer("embedding").get(id=stored.id)
    assert found.memory.metadata["source"] == "log" and found.memory.metadata["n"] == 2
    fields = ("metadata", "persona_id", "kind", "visibility", "importance", "superseded")
    for field in (*fields, "created_at", "last_accessed_at"):
        assert getattr(found.memory, field) == getattr(fresh, field), field
    assert found.memory.created_at.utcoffset() == fresh.created_at.utcoffset() == timedelta(0)


def test_search_records_access_and_the_batch_lands_after_the_call(
    alice, store, django_assert_max_num_queries
):
    kept = store("The blacksmith's name is Gorm.")
    old = timezone.now() - timedelta(days=3)
    Memory.objects.filter(id=kept.id).update(last_accessed_at=old)
    updates = []

    def spy(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("UPDATE"):
            updates.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        found = memory_search(persona=alice, query="blacksmith", limit=1)
    assert updates == []  # the read path writes nothing
    assert found[0].memory.access_count == 1 and found[0].memory.last_accessed_at > old
    assert found[0].scores["recency"] == pytest.approx(0.995**72, rel=1e-3)
    kept.refresh_from_db()
    assert kept.access_count == 0  # not written yet
    # A second search in this process sees the pending access: its count and its recency.
    again = memory_search(persona=alice, query="blacksmith", limit=1)
    assert again[0].memory.access_count == 2
    assert again[0].scores["recency"] == pytest.approx(1.0, abs=1e-3)
    memory_search(persona=alice, query="blacksmith", limit=1, touch=False)
    # PostgreSQL: the rows are locked first, in id order (personamcp.db.lock_in_order).
    with connection.execute_wrapper(spy), django_assert_max_num_queries(4):
        assert access.flush() == 1  # one row, one UPDATE for both accesses
    assert len(updates) == 1
    kept.refresh_from_db()
    assert kept.access_count == 2 and kept.last_accessed_at == again[0].memory.last_accessed_at
    assert access.flush() == 0


@pytest.mark.django_db(transaction=True)
def test_pending_accesses_are_written_by_the_timer(alice, store, memory_settings):
    import time

    kept = store("The ferryman takes only copper coins.")
    memory_settings(ACCESS_FLUSH_SECONDS=0.05)
    memory_search(persona=alice, query="ferryman", limit=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kept.refresh_from_db()
        if kept.access_count:
            break
        time.sleep(0.02)
    assert kept.access_count == 1 and access.latest([kept.id]) == {}


def test_access_flush_seconds_zero_writes_at_once(alice, store, memory_settings):
    kept = store("The miller's daughter can read.")
    memory_settings(ACCESS_FLUSH_SECONDS=0)
    memory_search(persona=alice, query="miller", limit=1)
    kept.refresh_from_db()
    assert kept.access_count == 1


def test_recent_memory_beats_an_old_one_of_equal_relevance(alice, store):
    old = store("I met a wandering bard at the crossroads.", importance=0.5)
    new = store("I met a wandering bard at the crossroads.", importance=0.5)
    Memory.objects.filter(id=old.id).update(last_accessed_at=timezone.now() - timedelta(days=10))
    found = memory_search(persona=alice, query="the bard", limit=2, touch=False)
    assert [s.memory.id for s in found] == [new.id, old.id]
    assert found[0].scores["relevance"] == pytest.approx(found[1].scores["relevance"], abs=1e-5)


def test_importance_breaks_ties(alice, store):
    moment = timezone.now()
    low = store("The well in the square is dry.", importance=0.2)
    high = store("The well in the square is dry.", importance=0.9)
    Memory.objects.filter(id__in=[low.id, high.id]).update(last_accessed_at=moment)
    found = memory_search(persona=alice, query="well", limit=2, touch=False)
    assert [s.memory.id for s in found] == [high.id, low.id]


def test_weights_change_the_order(alice, store):
    relevant = store("The ferryman charges two coppers to cross the river.", importance=0.05)
    Memory.objects.filter(id=relevant.id).update(
        last_accessed_at=timezone.now() - timedelta(days=60)
    )
    important = store("My brother was wounded in the war.", importance=0.95)
    query = "how much does the ferryman charge to cross the river?"
    by_relevance = memory_search(
        persona=alice, query=query, limit=2, touch=False,
        weights={"relevance": 1.0, "recency": 0.0, "importance": 0.0},
    )  # fmt: skip
    assert by_relevance[0].memory.id == relevant.id
    by_importance = memory_search(
        persona=alice, query=query, limit=2, touch=False,
        weights={"relevance": 0.1, "recency": 1.0, "importance": 1.0},
    )  # fmt: skip
    assert by_importance[0].memory.id == important.id


def test_filters_kinds_min_importance_and_about(alice, store):
    store("Bob likes apple pie.", kind="fact", about="bob", importance=0.3)
    store("Carol likes apple pie.", kind="fact", about="carol", importance=0.9)
    store("We baked an apple pie together.", kind="episodic", importance=0.9)
    facts = memory_search(persona=alice, query="apple pie", kinds=["fact"], touch=False)
    assert {s.memory.kind for s in facts} == {"fact"} and len(facts) == 2
    important = memory_search(persona=alice, query="apple pie", min_importance=0.5, touch=False)
    assert {s.memory.content for s in important} == {
        "Carol likes apple pie.",
        "We baked an apple pie together.",
    }
    about_bob = memory_search(persona=alice, query="apple pie", about="bob", touch=False)
    assert [s.memory.content for s in about_bob] == ["Bob likes apple pie."]
    assert memory_search(persona=alice, query="apple pie", about="nobody", touch=False) == []


def test_other_personas_memories_stay_private(demo, store):
    store("Rook hid the stolen map under the floorboards.", persona=demo["rook"])
    assert memory_search(persona=demo["alice"], query="stolen map", include_shared=True) == []
    assert memory_search(persona=demo["alice"], query="stolen map") == []


def test_sharing_rules(demo, store):
    from personas.models import Relationship

    alice, rook, elias = demo["alice"], demo["rook"], demo["elias"]
    Relationship.objects.filter(persona__in=[alice, rook, elias]).delete()
    Relationship.objects.create(persona=rook, other_id=str(alice.id), other_kind="persona")
    shared = store("The harbour gate opens at dawn.", persona=rook, visibility="shared")
    public = store("The harbour master is named Vell.", persona=elias, visibility="public")
    private = store("The harbour has a smugglers' tunnel.", persona=rook, visibility="private")
    elias_shared = store("The harbour smells of tar.", persona=elias, visibility="shared")
    ids = {
        s.memory.id
        for s in memory_search(persona=alice, query="the harbour", limit=10, include_shared=True)
    }
    assert shared.id in ids and public.id in ids
    assert private.id not in ids and elias_shared.id not in ids
    own_only = memory_search(persona=alice, query="the harbour", limit=10)
    assert own_only == []


def test_fact_supersedes_an_older_contradicting_fact(alice, store):
    old = store("Bob lives in the house by the mill.", kind="fact", about="bob")
    unrelated = store("Bob's favourite drink is cider.", kind="fact", about="bob")
    other_subject = store("Carol lives in the house by the mill.", kind="fact", about="carol")
    new = store("Bob lives in the house by the old mill now.", kind="fact", about="bob")
    old.refresh_from_db()
    assert old.superseded and old.superseded_by_id == new.id
    for kept in (unrelated, other_subject, new):
        kept.refresh_from_db()
        assert not kept.superseded
    found = memory_search(persona=alice, query="where does Bob live?", limit=10, touch=False)
    ids = [s.memory.id for s in found]
    assert old.id not in ids and new.id in ids


def test_episodic_memories_never_supersede(alice, store):
    first = store("Bob lives in the house by the mill.", kind="episodic", about="bob")
    store("Bob lives in the house by the mill.", kind="episodic", about="bob")
    first.refresh_from_db()
    assert not first.superseded


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"content": ""}, "content"),
        ({"content": "   "}, "content"),
        ({"content": "x" * 4001}, "content"),
        ({"content": "ok", "kind": "dream"}, "kind"),
        ({"content": "ok", "importance": 1.5}, "importance"),
        ({"content": "ok", "importance": -0.1}, "importance"),
        ({"content": "ok", "visibility": "secret"}, "visibility"),
        ({"content": "ok", "metadata": ["not", "a", "dict"]}, "metadata"),
    ],
)
def test_bad_input_stores_nothing(alice, kwargs, field):
    with pytest.raises(ValidationFailed) as err:
        memory_store(persona=alice, **kwargs)
    assert field in [e["field"] for e in err.value.errors]
    assert Memory.objects.count() == 0


def test_store_many_is_all_or_nothing_and_batched(alice):
    with pytest.raises(ValidationFailed) as err:
        memory_store_many(persona=alice, items=[{"content": "fine"}, {"content": ""}])
    assert err.value.errors[0]["field"] == "items.1.content"
    assert Memory.objects.count() == 0
    stored = memory_store_many(
        persona=alice, items=[{"content": f"memory number {i}"} for i in range(5)]
    )
    assert len(stored) == 5 and all(m.id for m in stored)
    assert MemoryIndexState.objects.get(persona=alice).revision == 1


def test_given_embedding_is_used(alice):
    vector = np.zeros(384, dtype=np.float32)
    vector[0] = 2.0
    memory = memory_store(persona=alice, content="synthetic", embedding=vector)
    fresh = Memory.objects.get(id=memory.id)
    assert fresh.embedding[0] == pytest.approx(1.0) and fresh.embedding[1:].sum() == 0
    found = memory_search(persona=alice, query_embedding=vector, limit=1, touch=False)
    assert found[0].memory.id == memory.id
    assert found[0].scores["relevance"] == pytest.approx(1.0, abs=1e-5)


def test_get_list_stats_and_delete(alice, store):
    a = store("first", kind="fact", importance=0.2)
    b = store("second", visibility="public", importance=0.4)
    c = store("third", importance=0.6)
    assert memory_get(memory_id=a.id).content == "first"
    page, cursor = memory_list(persona=alice, limit=2)
    assert [m.id for m in page] == [c.id, b.id] and cursor
    rest, cursor2 = memory_list(persona=alice, limit=2, cursor=cursor)
    assert [m.id for m in rest] == [a.id] and cursor2 is None
    stats = memory_stats(persona=alice)
    assert stats["total"] == 3 and stats["by_kind"]["fact"] == 1
    assert stats["by_visibility"] == {"private": 2, "shared": 0, "public": 1}
    assert stats["avg_importance"] == pytest.approx(0.4)
    memory_delete(memory=b)
    with pytest.raises(MemoryNotFound):
        memory_get(memory_id=b.id)
    assert b.id not in [
        s.memory.id for s in memory_search(persona=alice, query="second", touch=False)
    ]


def test_memory_created_event_is_published(
    alice, store, monkeypatch, django_capture_on_commit_callbacks
):
    from personamcp import events

    seen = []
    monkeypatch.setattr(
        events, "send_now", lambda payload, topics, primary: seen.append((payload, topics))
    )
    with django_capture_on_commit_callbacks(execute=True):
        memory = store("The lantern went out.")
    payload, topics = seen[-1]
    assert payload["type"] == "memory.created" and payload["data"]["id"] == memory.id
    assert "persona.alice" in topics and f"persona.{alice.id}" in topics


@pytest.mark.django_db(transaction=True)
def test_memory_written_by_another_connection_is_seen(demo):
    """The in-process index notices writes from other threads/processes (version check)."""
    alice = demo["alice"]
    memory_store(persona=alice, content="The bell tower is haunted.")
    assert len(memory_search(persona=alice, query="bell tower", touch=False)) == 1

    def other_writer():
        from django.db import connection as conn

        memory_store(persona=alice, content="The bell tower clock is broken.")
        conn.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    thread.join()
    found = memory_search(persona=alice, query="bell tower", touch=False)
    assert len(found) == 2
    gone = Memory.objects.get(content="The bell tower is haunted.")

    def other_deleter():
        from django.db import connection as conn

        memory_delete(memory=gone)
        conn.close()

    thread = threading.Thread(target=other_deleter)
    thread.start()
    thread.join()
    assert [
        s.memory.content for s in memory_search(persona=alice, query="bell tower", touch=False)
    ] == ["The bell tower clock is broken."]
