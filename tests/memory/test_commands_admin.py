"""Management commands (import, re-embed) and the admin's semantic search and preview."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from memory.embeddings import embed_one
from memory.models import Memory
from memory.selectors import memory_search


def test_import_memories_from_jsonl(tmp_path, demo):
    path = tmp_path / "memories.jsonl"
    rows = [
        {"persona": "alice", "content": f"Alice remembers event number {i}.", "importance": 0.3}
        for i in range(7)
    ] + [
        {"persona": "rook", "content": "Rook hid the map.", "kind": "fact", "about": "map",
         "created_at": "2025-01-02T03:04:05Z", "metadata": {"from": "import"}},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    out, err = StringIO(), StringIO()
    call_command("import_memories", str(path), "--batch-size", "3", stdout=out, stderr=err)
    assert "imported 8 memories" in out.getvalue()
    assert "8/8" in err.getvalue()  # the progress bar
    assert Memory.objects.filter(persona=demo["alice"]).count() == 7
    rook = Memory.objects.get(persona=demo["rook"])
    assert (
        rook.kind == "fact" and rook.created_at.year == 2025 and rook.metadata["from"] == "import"
    )
    found = memory_search(persona=demo["rook"], query="where is the map hidden?", touch=False)
    assert found[0].memory.id == rook.id


def test_import_rejects_a_bad_line_with_its_number(tmp_path, demo):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"persona": "alice", "content": "fine"})
        + "\n"
        + json.dumps({"persona": "alice", "content": "", "kind": "x"})
        + "\n"
    )
    with pytest.raises(CommandError, match="line 1"):
        call_command("import_memories", str(path), stdout=StringIO(), stderr=StringIO())
    assert Memory.objects.count() == 0
    path.write_text(json.dumps({"persona": "nobody", "content": "x"}) + "\n")
    with pytest.raises(CommandError, match="line 1: persona not found"):
        call_command("import_memories", str(path), stdout=StringIO(), stderr=StringIO())


def test_reembed_recomputes_embeddings_and_refreshes_the_index(alice, store):
    memory = store("The lighthouse keeper is called Maren.")
    stale = np.zeros(384, dtype=np.float32)
    stale[5] = 1.0
    Memory.objects.filter(id=memory.id).update(embedding=stale)
    out, err = StringIO(), StringIO()
    call_command("reembed", "--persona", "alice", stdout=out, stderr=err)
    assert "re-embedded 1 memories" in out.getvalue()
    fresh = Memory.objects.get(id=memory.id)
    assert np.allclose(fresh.embedding, embed_one(memory.content), atol=1e-5)
    found = memory_search(persona=alice, query="who keeps the lighthouse?", touch=False)
    assert found[0].scores["relevance"] > 0.5


def test_admin_semantic_search_with_persona_filter(admin_client, alice, demo, store):
    store("The lighthouse keeper is called Maren.")
    store("I bought apples at the market.")
    store("Rook keeps a lighthouse too.", persona=demo["rook"])
    url = f"/admin/memory/memory/?persona__id__exact={alice.id}&q=who+tends+the+beacon"
    response = admin_client.get(url)
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows[0].content == "The lighthouse keeper is called Maren."
    assert all(r.persona_id == alice.id for r in rows)
    text = admin_client.get("/admin/memory/memory/?q=apples").context["cl"].result_list
    assert [m.content for m in text] == ["I bought apples at the market."]


def test_admin_change_page_shows_a_read_only_embedding_preview(admin_client, store):
    memory = store("The lighthouse keeper is called Maren.")
    response = admin_client.get(f"/admin/memory/memory/{memory.id}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "384 dimensions, norm 1.0000" in body
    assert 'name="embedding"' not in body


def test_admin_add_goes_through_the_service(admin_client, alice):
    response = admin_client.post(
        "/admin/memory/memory/add/",
        {"persona": str(alice.id), "content": "My mother died yesterday.", "kind": "episodic",
         "importance": "", "visibility": "private", "about": "", "metadata": "{}"},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    memory = Memory.objects.get()
    assert memory.importance >= 0.7 and memory.embedding.shape == (384,)
