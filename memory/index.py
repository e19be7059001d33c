"""In-process vector search for the embedded mode (SQLite), one cached index per persona.

Each persona's searchable memories (not superseded) are held as a float32 matrix with their
ids, kind, visibility and ``about`` codes. Every search first reads the persona's
``MemoryIndexState`` counters (one indexed row): an unchanged ``revision`` means the cache is
current; a new ``revision`` with the same ``layout`` means only inserts happened and rows with a
larger id are appended; a new ``layout`` (delete, supersede, re-embed, edit) reloads the
persona. So memories written by another thread or process are always seen.

Up to ``MEMORY["IVF_MIN"]`` vectors the search is exact (one matrix-vector product). Above,
an inverted-file index (spherical k-means, ~sqrt(n) lists, rows stored contiguously per list)
is built in a background thread; a query scores the centroids, scans the ``IVF_PROBE_FRACTION``
nearest lists in a 64-dimensional PCA projection, rescores the best 200 rows exactly and adds
the rows appended since the build (scanned exactly). Until the first build
finishes, searches stay exact. ``search(..., exact=True)`` always scans everything (used to
measure recall).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)

try:
    # OpenBLAS's thread count is process-wide. Its threads only hurt the matrix-vector products
    # of a search on a busy server (measured here under load: 10 ms -> 2 ms at 10k vectors),
    # and the server already runs requests on several threads: use one BLAS thread.
    from threadpoolctl import ThreadpoolController

    ThreadpoolController().limit(limits=1, user_api="blas")
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
    pass

KIND_CODES = {"episodic": 0, "fact": 1, "reflection": 2}
VISIBILITY_CODES = {"private": 0, "shared": 1, "public": 2}


@dataclass
class _Ivf:
    n: int  # rows [0, n) are grouped by list; rows after n are the unindexed tail
    centroids: np.ndarray
    offsets: np.ndarray
    # PCA projection (r x d) and the indexed rows projected to r dimensions: the probed lists
    # are scanned in this small space, then the best RERANK rows are rescored exactly.
    projection: np.ndarray
    reduced: np.ndarray


PCA_DIMS = 64
RERANK = 200


@dataclass
class _Data:
    """An immutable view: readers take one and never see a half-applied change."""

    n: int
    ids: np.ndarray
    vectors: np.ndarray
    kinds: np.ndarray
    visibility: np.ndarray
    about: np.ndarray
    ivf: _Ivf | None = None


@dataclass
class _Entry:
    persona_id: str
    revision: int = -1
    layout: int = -1
    max_id: int = 0
    data: _Data | None = None
    about_codes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    building: bool = False


_entries: OrderedDict[str, _Entry] = OrderedDict()
_entries_lock = threading.Lock()


def _empty(capacity: int, dims: int) -> _Data:
    return _Data(
        n=0,
        ids=np.zeros(capacity, dtype=np.int64),
        vectors=np.zeros((capacity, dims), dtype=np.float32),
        kinds=np.zeros(capacity, dtype=np.int8),
        visibility=np.zeros(capacity, dtype=np.int8),
        about=np.zeros(capacity, dtype=np.int32),
    )


def _grow(data: _Data, needed: int) -> _Data:
    capacity = len(data.ids)
    if needed <= capacity:
        return data
    new_cap = max(needed, capacity * 2, 1024)
    grown = _empty(new_cap, data.vectors.shape[1])
    for name in ("ids", "vectors", "kinds", "visibility", "about"):
        getattr(grown, name)[: data.n] = getattr(data, name)[: data.n]
    grown.n, grown.ivf = data.n, data.ivf
    return grown


def _fetch_rows(persona_id: str, after_id: int) -> list[tuple]:
    from memory.models import Memory

    return list(
        Memory.objects.filter(persona_id=persona_id, superseded=False, id__gt=after_id)
        .order_by("id")
        .values_list("id", "kind", "visibility", "about", "embedding")
    )


def _append(entry: _Entry, data: _Data, rows: list[tuple]) -> _Data:
    if not rows:
        return data
    start = data.n
    data = _grow(data, start + len(rows))
    end = start + len(rows)
    data.ids[start:end] = [r[0] for r in rows]
    data.vectors[start:end] = np.stack([r[4] for r in rows])
    data.kinds[start:end] = [KIND_CODES[r[1]] for r in rows]
    data.visibility[start:end] = [VISIBILITY_CODES[r[2]] for r in rows]
    codes = entry.about_codes
    data.about[start:end] = [codes.setdefault(r[3], len(codes)) for r in rows]
    entry.max_id = max(entry.max_id, int(rows[-1][0]))
    return _Data(
        n=end,
        ids=data.ids,
        vectors=data.vectors,
        kinds=data.kinds,
        visibility=data.visibility,
        about=data.about,
        ivf=data.ivf,
    )


def _state(persona_id: str) -> tuple[int, int]:
    from memory.models import MemoryIndexState

    row = (
        MemoryIndexState.objects.filter(persona_id=persona_id)
        .values_list("revision", "layout")
        .first()
    )
    return row or (0, 0)


def _evict() -> None:
    cap = settings.MEMORY["CACHE_MAX_VECTORS"]
    total = sum(e.data.n for e in _entries.values() if e.data is not None)
    while total > cap and len(_entries) > 1:
        _, old = _entries.popitem(last=False)
        total -= old.data.n if old.data is not None else 0


def _entry(persona_id: str) -> _Entry:
    """The persona's cache entry, brought up to date with the database."""
    revision, layout = _state(persona_id)
    with _entries_lock:
        entry = _entries.get(persona_id)
        if entry is None:
            entry = _entries[persona_id] = _Entry(persona_id=persona_id)
        _entries.move_to_end(persona_id)
    if entry.revision == revision and entry.layout == layout and entry.data is not None:
        if not entry.building and _needs_build(entry.data):  # e.g. a discarded build
            with entry.lock:
                _maybe_build(entry)
        return entry
    with entry.lock:
        if entry.revision == revision and entry.layout == layout and entry.data is not None:
            return entry
        dims = settings.EMBEDDING_DIMENSIONS
        if entry.data is None or entry.layout != layout:
            started = time.monotonic()
            entry.about_codes = {}
            entry.max_id = 0
            rows = _fetch_rows(persona_id, 0)
            entry.data = _append(entry, _empty(max(len(rows), 16), dims), rows)
            log.debug(
                "memory index: loaded %d vectors of %s in %.0f ms",
                len(rows), persona_id, (time.monotonic() - started) * 1000,
            )  # fmt: skip
        else:
            entry.data = _append(entry, entry.data, _fetch_rows(persona_id, entry.max_id))
        entry.revision, entry.layout = revision, layout
        _maybe_build(entry)
    with _entries_lock:
        _evict()
    return entry


# --- IVF ---------------------------------------------------------------------------------------


def _kmeans(sample: np.ndarray, lists: int, iterations: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centroids = sample[rng.choice(len(sample), lists, replace=False)].copy()
    for _ in range(iterations):
        assign = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, sample)
        counts = np.bincount(assign, minlength=lists)
        empty = counts == 0
        if empty.any():  # re-seed empty lists with random points
            sums[empty] = sample[rng.choice(len(sample), int(empty.sum()), replace=False)]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = sums / np.clip(norms, 1e-12, None)
    return centroids.astype(np.float32)


def build_ivf(data: _Data, n: int) -> tuple[_Data, _Ivf]:
    """Group rows [0, n) by their nearest of ~sqrt(n) centroids; returns permuted copies."""
    lists = int(min(4096, max(16, np.sqrt(n))))
    rng = np.random.default_rng(n)
    sample_size = min(n, lists * 40)
    sample = data.vectors[rng.choice(n, sample_size, replace=False)]
    centroids = _kmeans(sample, lists)
    assign = np.empty(n, dtype=np.int32)
    for start in range(0, n, 16384):
        block = data.vectors[start : min(n, start + 16384)]
        assign[start : start + len(block)] = np.argmax(block @ centroids.T, axis=1)
    order = np.argsort(assign, kind="stable")
    offsets = np.zeros(lists + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.bincount(assign, minlength=lists))
    built = _empty(len(data.ids), data.vectors.shape[1])
    for name in ("ids", "vectors", "kinds", "visibility", "about"):
        getattr(built, name)[:n] = getattr(data, name)[:n][order]
    # Principal directions of the sample (uncentred: inner products must be preserved).
    _, _, vt = np.linalg.svd(sample, full_matrices=False)
    projection = np.ascontiguousarray(vt[: min(PCA_DIMS, vt.shape[0])], dtype=np.float32)
    reduced = np.empty((n, projection.shape[0]), dtype=np.float32)
    for start in range(0, n, 16384):
        end = min(n, start + 16384)
        reduced[start:end] = built.vectors[start:end] @ projection.T
    ivf = _Ivf(n=n, centroids=centroids, offsets=offsets, projection=projection, reduced=reduced)
    built.n, built.ivf = n, ivf
    return built, ivf


def _needs_build(data: _Data) -> bool:
    if data.n < settings.MEMORY["IVF_MIN"]:
        return False
    if data.ivf is None:
        return True
    tail = data.n - data.ivf.n
    return tail > max(2000, data.ivf.n // 5)


def _maybe_build(entry: _Entry) -> None:
    """Start a background (re)build of the IVF when the data outgrew it. Holds entry.lock."""
    if entry.building or entry.data is None or not _needs_build(entry.data):
        return
    entry.building = True
    snapshot, layout = entry.data, entry.layout

    def run() -> None:
        try:
            started = time.monotonic()
            built, _ = build_ivf(snapshot, snapshot.n)
            with entry.lock:
                current = entry.data
                if entry.layout == layout and current is not None:
                    # Rows appended while building go after the indexed block, unchanged.
                    extra = current.n - snapshot.n
                    built = _grow(built, current.n)
                    for name in ("ids", "vectors", "kinds", "visibility", "about"):
                        getattr(built, name)[snapshot.n : current.n] = getattr(current, name)[
                            snapshot.n : current.n
                        ]
                    built.n = snapshot.n + extra
                    entry.data = built
            log.info(
                "memory index: IVF over %d vectors of %s built in %.1fs",
                snapshot.n, entry.persona_id, time.monotonic() - started,
            )  # fmt: skip
        except Exception:
            log.exception("memory index: IVF build failed for %s", entry.persona_id)
        finally:
            entry.building = False
            close_old_connections()

    threading.Thread(target=run, name=f"ivf-{entry.persona_id[:8]}", daemon=True).start()


def wait_ready(persona_id: str, timeout: float = 600.0) -> None:
    """Block until the persona's index is loaded and no IVF build is running (bench, tests)."""
    entry = _entry(str(persona_id))
    deadline = time.monotonic() + timeout
    while entry.building and time.monotonic() < deadline:
        time.sleep(0.05)


def clear() -> None:
    """Drop every cached index (tests)."""
    with _entries_lock:
        _entries.clear()


# --- search --------------------------------------------------------------------------------


def _mask(
    entry: _Entry,
    data: _Data,
    kinds: list[str] | None,
    about: str | None,
    visibilities: set[str] | None,
    allowed_ids: np.ndarray | None,
) -> np.ndarray | None:
    n = data.n
    mask: np.ndarray | None = None

    def both(m: np.ndarray) -> np.ndarray:
        return m if mask is None else mask & m

    if kinds is not None:
        mask = both(np.isin(data.kinds[:n], [KIND_CODES[k] for k in kinds]))
    if about is not None:
        code = entry.about_codes.get(about, -1)
        mask = both(data.about[:n] == code)
    if visibilities is not None:
        mask = both(np.isin(data.visibility[:n], [VISIBILITY_CODES[v] for v in visibilities]))
    if allowed_ids is not None:
        mask = both(np.isin(data.ids[:n], allowed_ids))
    return mask


def _top(rows: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if len(sims) > k:
        part = np.argpartition(-sims, k - 1)[:k]
        rows, sims = rows[part], sims[part]
    order = np.argsort(-sims, kind="stable")
    return rows[order], sims[order]


def _search_data(
    data: _Data, query: np.ndarray, k: int, mask: np.ndarray | None, exact: bool, nprobe: int
) -> tuple[np.ndarray, np.ndarray]:
    n = data.n
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    ivf = data.ivf
    if mask is not None:
        allowed = int(mask.sum())
        if allowed == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # A selective filter: scoring only the allowed rows is cheaper and exact.
        if exact or ivf is None or allowed <= 4 * max(k, 256) or allowed * 8 <= n:
            rows = np.flatnonzero(mask)
            return _top(rows, data.vectors[rows] @ query, k)
    if exact or ivf is None:
        sims = data.vectors[:n] @ query
        if mask is not None:
            sims = np.where(mask, sims, -np.inf)
        rows = np.arange(n)
        rows, sims = _top(rows, sims, k)
        keep = np.isfinite(sims)
        return rows[keep], sims[keep]
    lists = len(ivf.centroids)
    q_reduced = ivf.projection @ query
    centroid_sims = ivf.centroids @ query
    while True:
        probe = min(lists, nprobe)
        if probe < lists:
            chosen = np.argpartition(-centroid_sims, probe - 1)[:probe]
        else:
            chosen = np.arange(lists)
        spans = [(int(ivf.offsets[c]), int(ivf.offsets[c + 1])) for c in chosen]
        rows = np.concatenate([np.arange(a, b) for a, b in spans])
        # Coarse scores in the reduced space (contiguous slices, no copies), then the best
        # RERANK rows exactly.
        approx = np.concatenate([ivf.reduced[a:b] @ q_reduced for a, b in spans])
        if mask is not None:
            keep = mask[rows]
            rows, approx = rows[keep], approx[keep]
        pool = max(RERANK, k)
        if len(rows) > pool:
            rows = rows[np.argpartition(-approx, pool - 1)[:pool]]
        sims = data.vectors[rows] @ query
        if n > ivf.n:  # rows appended since the build: scanned exactly
            tail = np.arange(ivf.n, n)
            if mask is not None:
                tail = tail[mask[ivf.n : n]]
            rows = np.concatenate([rows, tail])
            sims = np.concatenate([sims, data.vectors[tail] @ query])
        if len(rows) >= k or probe >= lists:
            return _top(rows, sims, k)
        nprobe = probe * 2


def search(
    persona_id: str,
    query: np.ndarray,
    k: int,
    *,
    kinds: list[str] | None = None,
    about: str | None = None,
    visibilities: set[str] | None = None,
    allowed_ids: np.ndarray | None = None,
    exact: bool = False,
    nprobe: int | None = None,
) -> list[tuple[int, float]]:
    """The ``k`` most similar searchable memories of a persona: ``[(memory_id, cosine)]``."""
    entry = _entry(str(persona_id))
    data = entry.data
    if data is None:
        return []
    query = np.asarray(query, dtype=np.float32)
    mask = _mask(entry, data, kinds, about, visibilities, allowed_ids)
    if nprobe is None and data.ivf is not None:
        lists = len(data.ivf.centroids)
        nprobe = max(1, int(np.ceil(lists * settings.MEMORY["IVF_PROBE_FRACTION"])))
    rows, sims = _search_data(data, query, k, mask, exact, nprobe or 1)
    ids = data.ids[rows]
    return [(int(i), float(s)) for i, s in zip(ids, sims, strict=True)]


def stats(persona_id: str) -> dict:
    """What the cache holds for a persona (admin, tests)."""
    entry = _entry(str(persona_id))
    data = entry.data
    return {
        "vectors": 0 if data is None else data.n,
        "ivf_lists": 0 if data is None or data.ivf is None else len(data.ivf.centroids),
        "ivf_rows": 0 if data is None or data.ivf is None else data.ivf.n,
        "revision": entry.revision,
        "layout": entry.layout,
    }
