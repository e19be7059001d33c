"""The static embedding backend (EMBEDDING_MODEL naming a model2vec folder), on a tiny model
made here in model2vec's layout: config.json, model.safetensors, tokenizer.json."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture
def static_folder(tmp_path):
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "bob": 1, "owes": 2, "coins": 3}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    rng = np.random.default_rng(0)
    table = rng.standard_normal((4, 384)).astype(np.float16)
    save_file({"embeddings": table}, str(tmp_path / "model.safetensors"))
    config = {"model_type": "model2vec", "normalize": True, "max_length": 512, "hidden_dim": 384}
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path, table.astype(np.float32)


@pytest.fixture
def use_model(settings):
    from memory import embeddings

    def apply(name: str) -> None:
        settings.EMBEDDING_MODEL = name
        embeddings._encoder = None
        embeddings._query_cache.clear()

    yield apply
    settings.EMBEDDING_MODEL = ""
    embeddings._encoder = None
    embeddings._query_cache.clear()


def test_a_model2vec_folder_loads_as_the_static_backend(static_folder, use_model):
    from memory.embeddings import embed, embedding_info

    folder, table = static_folder
    use_model(str(folder))
    vectors = embed(["bob owes coins", "bob zebra", "zebra"])
    assert embedding_info()["backend"] == "static"
    expected = table[[1, 2, 3]].mean(axis=0)
    assert np.allclose(vectors[0], expected / np.linalg.norm(expected), atol=1e-6)
    # the unknown word is dropped, not averaged in
    assert np.allclose(vectors[1], table[1] / np.linalg.norm(table[1]), atol=1e-6)
    assert not vectors[2].any()  # nothing known: a zero vector
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)


def test_static_alias_without_a_distilled_model_says_what_to_run(settings, tmp_path, use_model):
    from django.core.exceptions import ImproperlyConfigured

    from memory.embeddings import embed

    settings.EMBEDDING_CACHE_DIR = tmp_path
    use_model("static")
    with pytest.raises(ImproperlyConfigured, match="distill_static_embeddings"):
        embed(["anything"])


@pytest.mark.embedded  # no database: once is enough
def test_distill_command_makes_a_static_model_that_ranks_paraphrases(settings, tmp_path, use_model):
    """The real ``manage.py distill_static_embeddings``: its own venv, the pinned model2vec,
    the packaged MiniLM; the model it writes loads as EMBEDDING_MODEL=static."""
    from django.core.management import call_command

    from memory.embeddings import embed, embedding_info

    settings.VAR_DIR = str(tmp_path / "var")
    settings.EMBEDDING_CACHE_DIR = str(tmp_path / "models")
    call_command("distill_static_embeddings")
    use_model("static")
    query, near, far = embed(
        ["the baker owes me three silver coins", "I lent the baker some money", "storm at sea"]
    )
    assert embedding_info()["backend"] == "static"
    assert float(query @ near) > float(query @ far) + 0.1
