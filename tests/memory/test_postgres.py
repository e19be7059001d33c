"""PostgreSQL + pgvector: the candidate query uses the HNSW cosine index."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from memory.candidates import pg_statement, raw_pg_connection
from memory.embeddings import embed_one
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
