"""PostgreSQL + pgvector: the HNSW candidate query, and large batches written in parts."""

from __future__ import annotations

import threading

import numpy as np
import psycopg
import pytest
from django.db import connection

from memory.candidates import pg_statement, raw_pg_connection
from memory.embeddings import embed_one
from memory.models import Memory, MemoryIndexState
from memory.selectors import memory_search
from memory.services import memory_store_many
from tests.memory.test_index import clustered

pytestmark = pytest.mark.scaled


def test_migration_created_the_hnsw_index(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'memory_embedding_hnsw'")
        (indexdef,) = cursor.fetchone()
    # 0004: over the vectors' half-precision copies, m 16 and ef_construction 200 as in 0003
    assert "hnsw" in indexdef and "halfvec(384)) halfvec_cosine_ops" in indexdef, indexdef
    assert "m='16'" in indexdef and "ef_construction='200'" in indexdef, indexdef


def test_every_session_carries_the_hnsw_search_settings(db):
    from django.conf import settings

    with connection.cursor() as cursor:
        cursor.execute("SHOW hnsw.ef_search")
        assert cursor.fetchone()[0] == str(settings.MEMORY["HNSW_EF_SEARCH"])
        cursor.execute("SHOW hnsw.iterative_scan")
        assert cursor.fetchone()[0] == "relaxed_order"


def test_candidate_query_uses_the_hnsw_index(alice):
    vectors = clustered(5000)
    memory_store_many(
        persona=alice,
        items=[
            {"content": f"m{i}", "embedding": v, "importance": 0.5} for i, v in enumerate(vectors)
        ],
        publish=False,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memory_memory")
    query = embed_one("where is the treasure?")
    # The statement memory_search runs, own memories and others' shared ones in one.
    sql, params = pg_statement(alice, query, 40, shared=True)
    with psycopg.Cursor(raw_pg_connection()) as cursor:
        plan = "\n".join(row[0] for row in cursor.execute("EXPLAIN " + sql, params))
    assert plan.count("memory_embedding_hnsw") == 1, plan  # the own half walks the graph
    found = memory_search(persona=alice, query_embedding=vectors[7], limit=5, touch=False)
    assert found[0].memory.content == "m7"
    assert found[0].scores["relevance"] == pytest.approx(1.0, abs=1e-4)


def test_a_large_batch_is_written_in_parts_while_the_next_part_embeds(alice, monkeypatch):
    from memory import embeddings, services

    written, embedded_by = [], []
    real_insert, real_embed = services._insert, embeddings.embed
    monkeypatch.setattr(
        services, "_insert", lambda objects: written.append(len(objects)) or real_insert(objects)
    )

    def embed(texts):
        embedded_by.append(threading.current_thread().name.split("_")[0])
        return real_embed(texts)

    monkeypatch.setattr(embeddings, "embed", embed)
    texts = [f"the lantern number {i} hangs by the mill" for i in range(150)]
    stored = memory_store_many(persona=alice, items=[{"content": t} for t in texts])
    assert written == [64, 64, 22]  # services.PIPELINE_ROWS per part
    assert embedded_by == ["MainThread", "embed-store", "embed-store"]
    assert [m.content for m in stored] == texts
    rows = dict(Memory.objects.filter(persona=alice).values_list("content", "embedding"))
    assert len(rows) == 150
    for text in (texts[0], texts[100], texts[149]):  # every part got its own vectors
        assert float(np.dot(rows[text], embed_one(text))) == pytest.approx(1.0, abs=1e-3)
    assert MemoryIndexState.objects.get(persona=alice).revision == 1  # one bump, one write


def test_a_part_that_fails_to_embed_leaves_nothing_written(alice, monkeypatch):
    from memory import embeddings

    calls = []
    real_embed = embeddings.embed

    def embed(texts):
        calls.append(len(texts))
        if len(calls) == 3:
            raise RuntimeError("the model went away")
        return real_embed(texts)

    monkeypatch.setattr(embeddings, "embed", embed)
    with pytest.raises(RuntimeError, match="went away"):
        memory_store_many(
            persona=alice, items=[{"content": f"memory number {i}"} for i in range(200)]
        )
    assert calls == [64, 64, 64]
    assert Memory.objects.filter(persona=alice).count() == 0
    assert not MemoryIndexState.objects.filter(persona=alice, revision__gt=0).exists()


def test_a_batch_with_a_fact_is_embedded_whole_before_the_supersede_check(alice, monkeypatch):
    from memory import services

    written = []
    real_insert = services._insert
    monkeypatch.setattr(
        services, "_insert", lambda objects: written.append(len(objects)) or real_insert(objects)
    )
    items = [{"content": f"memory number {i}"} for i in range(100)]
    items.append({"content": "the mill's key hangs in the cellar", "kind": "fact", "about": "key"})
    memory_store_many(persona=alice, items=items)
    assert written == [101]
