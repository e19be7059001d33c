"""The in-process index of the embedded mode: cache invalidation, HNSW recall vs exact,
rows added while and after the graph is built, filters, and the graph saved across restarts."""

from __future__ import annotations

import numpy as np
import pytest

from memory import index
from memory.models import Memory
from memory.selectors import memory_search
from memory.services import memory_delete, memory_store_many

pytestmark = pytest.mark.embedded


_REAL: list[np.ndarray] = []


def clustered(n: int, seed: int = 1) -> np.ndarray:
    """Vectors shaped like real memories: embeddings of real sentences plus a little noise
    (real embeddings are anisotropic and cluster by topic; uniform noise is not a memory)."""
    if not _REAL:
        from memory.embeddings import embed

        subjects = ["Bob", "the innkeeper", "my sister", "the guard", "Captain Vell", "a bard"]
        verbs = ["paid", "lost", "stole", "found", "sold", "hid"]
        objects = ["the map", "three coins", "a sword", "the keys", "a letter", "the horse"]
        places = ["at the market", "by the river", "in the cellar", "during the storm"]
        texts = [
            f"{s} {v} {o} {p}." for s in subjects for v in verbs for o in objects for p in places
        ]
        _REAL.append(embed(texts[:400]))
    rng = np.random.default_rng(seed)
    base = _REAL[0]
    vectors = base[rng.integers(0, len(base), n)] + rng.normal(scale=0.035, size=(n, 384)).astype(
        np.float32
    )
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def bulk(persona, vectors: np.ndarray, kind: str = "episodic") -> list[Memory]:
    items = [
        {"content": f"synthetic {i}", "embedding": v, "importance": 0.5, "kind": kind}
        for i, v in enumerate(vectors)
    ]
    return memory_store_many(persona=persona, items=items, publish=False)


def test_inserts_append_and_deletes_reload(alice):
    bulk(alice, clustered(50))
    assert index.stats(alice.id)["vectors"] == 50
    more = bulk(alice, clustered(10, seed=2))
    stats = index.stats(alice.id)
    assert stats["vectors"] == 60 and stats["revision"] == 2 and stats["layout"] == 0
    memory_delete(memory=more[0])
    stats = index.stats(alice.id)
    assert stats["vectors"] == 59 and stats["layout"] == 1


def test_hnsw_recall_at_10_against_exact(alice, memory_settings):
    memory_settings(ANN_MIN=2000)
    bulk(alice, clustered(8000))
    index.wait_ready(alice.id)
    assert index.stats(alice.id)["graph_rows"] == 8000
    queries = clustered(50, seed=7)
    hits = 0
    for q in queries:
        approx = [i for i, _ in index.search(alice.id, q, 10)]
        exact = [i for i, _ in index.search(alice.id, q, 10, exact=True)]
        hits += len(set(approx) & set(exact))
    assert hits / (10 * len(queries)) >= 0.98


def test_rows_added_after_the_build_are_searched_then_joined_to_the_graph(alice, memory_settings):
    memory_settings(ANN_MIN=2000)
    bulk(alice, clustered(3000))
    index.wait_ready(alice.id)
    target = clustered(1, seed=99)[0]
    [late] = bulk(alice, target[None, :])
    found = memory_search(persona=alice, query_embedding=target, limit=1, touch=False)
    assert found[0].memory.id == late.id
    index.wait_ready(alice.id)
    assert index.stats(alice.id)["graph_rows"] == 3001
    found = memory_search(persona=alice, query_embedding=target, limit=1, touch=False)
    assert found[0].memory.id == late.id


def test_selective_filters_with_a_graph_are_exact(alice, memory_settings):
    memory_settings(ANN_MIN=2000)
    bulk(alice, clustered(3000))
    facts = bulk(alice, clustered(30, seed=5), kind="fact")
    index.wait_ready(alice.id)
    q = clustered(1, seed=11)[0]
    got = memory_search(persona=alice, query_embedding=q, limit=10, kinds=["fact"], touch=False)
    sims = sorted(((float(m.embedding @ q), m.id) for m in facts), reverse=True)
    assert {s.memory.id for s in got} == {pk for _, pk in sims[:10]}


def test_broad_filters_walk_the_graph_and_return_only_allowed_rows(alice, memory_settings):
    memory_settings(ANN_MIN=2000)
    episodes = bulk(alice, clustered(2500))
    facts = bulk(alice, clustered(2500, seed=3), kind="fact")
    index.wait_ready(alice.id)
    fact_ids = {m.id for m in facts}
    hits = 0
    for q in clustered(20, seed=13):
        approx = [i for i, _ in index.search(alice.id, q, 10, kinds=["fact"])]
        exact = [i for i, _ in index.search(alice.id, q, 10, kinds=["fact"], exact=True)]
        assert set(approx) <= fact_ids and len(approx) == 10
        hits += len(set(approx) & set(exact))
    assert hits / 200 >= 0.95
    assert episodes[0].id not in fact_ids


def test_a_deleted_memory_leaves_the_graph(alice, memory_settings):
    memory_settings(ANN_MIN=2000)
    vectors = clustered(3000)
    rows = bulk(alice, vectors)
    index.wait_ready(alice.id)
    memory_delete(memory=rows[17])
    found = [i for i, _ in index.search(alice.id, vectors[17], 5)]
    assert rows[17].id not in found
    index.wait_ready(alice.id)
    assert index.stats(alice.id)["graph_rows"] == 2999
    assert rows[17].id not in [i for i, _ in index.search(alice.id, vectors[17], 5)]


def test_a_saved_graph_is_reused_after_a_restart_only_while_it_matches(
    alice, memory_settings, settings, tmp_path, caplog
):
    settings.VAR_DIR = tmp_path
    memory_settings(ANN_MIN=2000, ANN_SAVE=True)
    vectors = clustered(3000)
    rows = bulk(alice, vectors)
    index.wait_ready(alice.id)
    assert (tmp_path / "memory-index" / f"{alice.id}.faiss").exists()
    index.clear()  # a new process: the cache is empty, the saved graph is on disk
    with caplog.at_level("INFO", logger="memory.index"):
        index.wait_ready(alice.id)
    assert "loaded" in caplog.text and index.stats(alice.id)["graph_rows"] == 3000
    assert index.search(alice.id, vectors[5], 1)[0][0] == rows[5].id
    # Rows changed while no process held the cache: the saved graph no longer matches.
    memory_delete(memory=rows[0])
    index.clear()
    caplog.clear()
    with caplog.at_level("INFO", logger="memory.index"):
        index.wait_ready(alice.id)
    assert "built" in caplog.text and index.stats(alice.id)["graph_rows"] == 2999


def test_a_saved_graph_built_with_other_parameters_is_rebuilt(
    alice, memory_settings, settings, tmp_path, caplog
):
    settings.VAR_DIR = tmp_path
    memory_settings(ANN_MIN=2000, ANN_SAVE=True, ANN_EF_CONSTRUCTION=40)
    vectors = clustered(2500)
    rows = bulk(alice, vectors)
    index.wait_ready(alice.id)
    index.clear()
    memory_settings(ANN_EF_CONSTRUCTION=80)  # e.g. a new default after an upgrade
    with caplog.at_level("INFO", logger="memory.index"):
        index.wait_ready(alice.id)
    assert "built" in caplog.text and "loaded" not in caplog.text
    assert index.stats(alice.id)["graph_rows"] == 2500
    assert index.search(alice.id, vectors[7], 1)[0][0] == rows[7].id
    index.clear()  # the graph saved by that build now matches and is reused
    caplog.clear()
    with caplog.at_level("INFO", logger="memory.index"):
        index.wait_ready(alice.id)
    assert "loaded" in caplog.text
