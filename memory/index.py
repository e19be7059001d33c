"""In-process vector search for the embedded mode (SQLite), one cached index per persona.

Each persona's searchable memories (not superseded) are held as a float32 matrix with their
ids, kind, visibility and ``about`` codes. Every search first reads the persona's
``MemoryIndexState`` counters (one indexed row): an unchanged ``revision`` means the cache is
current; a new ``revision`` with the same ``layout`` means only inserts happened and rows with a
larger id are appended; a new ``layout`` (delete, supersede, re-embed, edit) reloads the
persona. So memories written by another thread or process are always seen.

Up to ``MEMORY["ANN_MIN"]`` vectors the search is exact (one matrix-vector product). Above, a
background thread builds a faiss HNSW graph (inner product over unit vectors, i.e. cosine) of
the rows in id order and then keeps adding appended rows to it in small batches. A query walks
the graph for the rows it holds (filters become a bitmap ``IDSelector``) and scores the rows not
yet added exactly, so a memory is searchable the moment it is stored. Selective filters (e.g.
one ``about``) score only the matching rows, exactly. A built graph is saved under
``VAR_DIR/memory-index`` and reused after a restart when it still matches the rows.
``search(..., exact=True)`` always scans everything (used to measure recall).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import faiss
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

# One OpenMP thread: a single-query graph search gains nothing from more, and a background
# build must not take both cores from the requests being served.
faiss.omp_set_num_threads(1)

KIND_CODES = {"episodic": 0, "fact": 1, "reflection": 2}
VISIBILITY_CODES = {"private": 0, "shared": 1, "public": 2}
ADD_BATCH = 256  # rows added to a graph per step (the graph is locked while it grows)
EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


@dataclass
class _Data:
    """An immutable view: readers take one and never see a half-applied change."""

    n: int
    layout: int
    ids: np.ndarray
    vectors: np.ndarray
    kinds: np.ndarray
    visibility: np.ndarray
    about: np.ndarray


@dataclass
class _Graph:
    """A faiss HNSW graph over rows [0, n) of a persona's data with that ``layout``."""

    index: faiss.IndexHNSWFlat
    layout: int

    @property
    def n(self) -> int:
        return int(self.index.ntotal)


@dataclass
class _Entry:
    persona_id: str
    revision: int = -1
    layout: int = -1
    max_id: int = 0
    data: _Data | None = None
    graph: _Graph | None = None
    about_codes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards loading the data
    graph_lock: threading.Lock = field(default_factory=threading.Lock)  # searching vs growing
    building: bool = False


_entries: OrderedDict[str, _Entry] = OrderedDict()
_entries_lock = threading.Lock()


def _empty(capacity: int, dims: int, layout: int) -> _Data:
    return _Data(
        n=0,
        layout=layout,
        ids=np.zeros(capacity, dtype=np.int64),
        vectors=np.zeros((capacity, dims), dtype=np.float32),
        kinds=np.zeros(capacity, dtype=np.int8),
        visibility=np.zeros(capacity, dtype=np.int8),
        about=np.zeros(capacity, dtype=np.int32),
    )


COLUMNS = ("ids", "vectors", "kinds", "visibility", "about")


def _grow(data: _Data, needed: int) -> _Data:
    capacity = len(data.ids)
    if needed <= capacity:
        return data
    grown = _empty(max(needed, capacity * 2, 1024), data.vectors.shape[1], data.layout)
    for name in COLUMNS:
        getattr(grown, name)[: data.n] = getattr(data, name)[: data.n]
    grown.n = data.n
    return grown


def _fetch_rows(persona_id: str, after_id: int) -> list[tuple]:
    from memory.candidates import index_rows

    return index_rows(persona_id, after_id)


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
    columns = {name: getattr(data, name) for name in COLUMNS}
    return _Data(n=end, layout=data.layout, **columns)


def _state(persona_id: str) -> tuple[int, int]:
    from memory.candidates import sharing_plan

    return sharing_plan(persona_id, include_shared=False)[0]


def _evict() -> None:
    cap = settings.MEMORY["CACHE_MAX_VECTORS"]
    total = sum(e.data.n for e in _entries.values() if e.data is not None)
    while total > cap and len(_entries) > 1:
        _, old = _entries.popitem(last=False)
        total -= old.data.n if old.data is not None else 0


def _entry(persona_id: str, state: tuple[int, int] | None = None) -> _Entry:
    """The persona's cache entry, brought up to date with the database (``state``: its
    ``(revision, layout)`` when the caller has just read them)."""
    revision, layout = _state(persona_id) if state is None else state
    with _entries_lock:
        entry = _entries.get(persona_id)
        if entry is None:
            entry = _entries[persona_id] = _Entry(persona_id=persona_id)
        _entries.move_to_end(persona_id)
    if entry.revision == revision and entry.layout == layout and entry.data is not None:
        if not entry.building and _graph_behind(entry):  # e.g. after a failed build
            with entry.lock:
                _maybe_index(entry)
        return entry
    with entry.lock:
        if entry.revision == revision and entry.layout == layout and entry.data is not None:
            return entry
        dims = settings.EMBEDDING_DIMENSIONS
        if entry.data is None or entry.layout != layout:
            started = time.monotonic()
            with entry.graph_lock:
                entry.graph = None  # built over rows that are gone: searched exactly meanwhile
            entry.about_codes = {}
            entry.max_id = 0
            rows = _fetch_rows(persona_id, 0)
            entry.data = _append(entry, _empty(max(len(rows), 16), dims, layout), rows)
            log.debug(
                "memory index: loaded %d vectors of %s in %.0f ms",
                len(rows), persona_id, (time.monotonic() - started) * 1000,
            )  # fmt: skip
        else:
            entry.data = _append(entry, entry.data, _fetch_rows(persona_id, entry.max_id))
        entry.revision, entry.layout = revision, layout
        _maybe_index(entry)
    with _entries_lock:
        _evict()
    return entry


# --- the HNSW graph ------------------------------------------------------------------------


def _graph_behind(entry: _Entry) -> bool:
    data, graph = entry.data, entry.graph
    if data is None or data.n < settings.MEMORY["ANN_MIN"]:
        return False
    return graph is None or graph.layout != data.layout or graph.n < data.n


def _saved_path(persona_id: str) -> Path:
    return Path(settings.VAR_DIR) / "memory-index" / f"{persona_id}.faiss"


def _new_index(dims: int) -> faiss.IndexHNSWFlat:
    conf = settings.MEMORY
    index = faiss.IndexHNSWFlat(dims, conf["ANN_M"], faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = conf["ANN_EF_CONSTRUCTION"]
    return index


def _build_params() -> dict:
    """What a saved graph was built with: one built otherwise (e.g. before a change of
    ``ANN_M`` or ``ANN_EF_CONSTRUCTION``) is rebuilt rather than reused."""
    conf = settings.MEMORY
    return {"m": conf["ANN_M"], "ef_construction": conf["ANN_EF_CONSTRUCTION"]}


def _load_saved(persona_id: str, data: _Data) -> _Graph | None:
    """The graph saved by an earlier process, if it still holds exactly these rows' vectors."""
    path = _saved_path(persona_id)
    if not settings.MEMORY["ANN_SAVE"] or not path.exists():
        return None
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        index = faiss.read_index(str(path))
        n = int(index.ntotal)
        storage = faiss.downcast_index(index.storage)
        stored = faiss.rev_swig_ptr(storage.get_xb(), n * index.d).reshape(n, index.d)
        if (
            n <= data.n
            and meta.get("build") == _build_params()
            and meta.get("first_ids") == [int(i) for i in data.ids[: min(n, 8)]]
            and np.array_equal(stored, data.vectors[:n])
        ):
            return _Graph(index=index, layout=data.layout)
    except (OSError, ValueError, RuntimeError):
        log.warning("memory index: ignoring the unreadable saved graph of %s", persona_id)
    return None


def _save(persona_id: str, graph: _Graph, data: _Data) -> None:
    if not settings.MEMORY["ANN_SAVE"]:
        return
    path = _saved_path(persona_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        faiss.write_index(graph.index, str(tmp))
        tmp.replace(path)
        meta = {
            "first_ids": [int(i) for i in data.ids[: min(graph.n, 8)]],
            "rows": graph.n,
            "build": _build_params(),
        }
        path.with_suffix(".json").write_text(json.dumps(meta))
    except OSError:
        log.warning("memory index: could not save the graph of %s", persona_id, exc_info=True)


def build_graph(data: _Data, n: int) -> _Graph:
    """A new HNSW graph over rows [0, n) (blocking; the server builds in the background)."""
    index = _new_index(data.vectors.shape[1])
    for start in range(0, n, 16384):
        index.add(data.vectors[start : min(n, start + 16384)])
    return _Graph(index=index, layout=data.layout)


def _index_step(entry: _Entry) -> bool:
    """One step of bringing the graph up to date; False when there is nothing left to do."""
    with entry.lock:
        data, graph = entry.data, entry.graph
    if data is None or data.n < settings.MEMORY["ANN_MIN"]:
        return False
    if graph is None or graph.layout != data.layout:
        started = time.monotonic()
        built = _load_saved(entry.persona_id, data)
        fresh = built is None
        if fresh:
            built = build_graph(data, data.n)
        with entry.lock:
            if entry.data is None or entry.data.layout != data.layout:
                return True  # the rows changed meanwhile: start over with the new ones
            with entry.graph_lock:
                entry.graph = built
        log.info(
            "memory index: HNSW graph over %d vectors of %s %s in %.1fs",
            built.n, entry.persona_id, "built" if fresh else "loaded",
            time.monotonic() - started,
        )  # fmt: skip
        if fresh:
            _save(entry.persona_id, built, data)
        return True
    if graph.n >= data.n:
        return False
    end = min(data.n, graph.n + ADD_BATCH)
    with entry.graph_lock:
        if entry.graph is graph and graph.n < end:
            graph.index.add(data.vectors[graph.n : end])
    return True


# Graphs grow on at most INDEXERS long-lived daemon threads fed by a queue. A thread started
# for each catch-up cost the search that noticed the lag up to 0.4 ms (``Thread.start`` waits
# for the new thread to run, behind the other threads of a busy turn).
INDEXERS = 2
_pending: queue.SimpleQueue[_Entry] = queue.SimpleQueue()
_indexers: list[threading.Thread] = []
_indexers_lock = threading.Lock()


def _indexer() -> None:
    while True:
        entry = _pending.get()
        try:
            while _index_step(entry):
                pass
        except Exception:
            log.exception("memory index: HNSW indexing failed for %s", entry.persona_id)
        finally:
            entry.building = False
            close_old_connections()


def _maybe_index(entry: _Entry) -> None:
    """Queue the entry for an indexer when its graph lags the data. Holds entry.lock."""
    if entry.building or not _graph_behind(entry):
        return
    entry.building = True
    with _indexers_lock:
        _indexers[:] = [t for t in _indexers if t.is_alive()]  # none survive a fork
        if len(_indexers) < INDEXERS:
            thread = threading.Thread(target=_indexer, name="hnsw-indexer", daemon=True)
            thread.start()
            _indexers.append(thread)
    _pending.put(entry)


def wait_ready(persona_id: str, timeout: float = 600.0) -> None:
    """Block until the persona's graph holds every row (bench, tests)."""
    entry = _entry(str(persona_id))
    deadline = time.monotonic() + timeout
    while (entry.building or _graph_behind(entry)) and time.monotonic() < deadline:
        if not entry.building:
            with entry.lock:
                _maybe_index(entry)
        time.sleep(0.02)


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


def _exact(data: _Data, query: np.ndarray, k: int, start: int, mask: np.ndarray | None):
    """Exact top-k among rows [start, n) that pass the mask."""
    rows = np.arange(start, data.n)
    if mask is not None:
        rows = rows[mask[start : data.n]]
    if len(rows) == 0:
        return EMPTY
    return _top(rows, data.vectors[rows] @ query, k)


def _graph_search(
    graph: _Graph, query: np.ndarray, k: int, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of the graph's rows; called with the graph locked."""
    n = graph.n
    params = faiss.SearchParametersHNSW()
    ef = max(k, settings.MEMORY["ANN_EF_SEARCH"])
    bits = None
    if mask is not None:
        allowed = int(mask[:n].sum())
        if allowed == 0:
            return EMPTY
        # A filter leaves fewer neighbours on the walk: widen it as the filter narrows.
        ef = int(ef * min(8.0, n / allowed))
        bits = np.packbits(mask[:n], bitorder="little")
        params.sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
    params.efSearch = ef
    sims, rows = graph.index.search(query[None, :], k, params=params)
    keep = rows[0] >= 0
    return rows[0][keep].astype(np.int64), sims[0][keep]


def _search_data(
    entry: _Entry, data: _Data, query: np.ndarray, k: int, mask: np.ndarray | None, exact: bool
) -> tuple[np.ndarray, np.ndarray]:
    n = data.n
    if n == 0 or k <= 0:
        return EMPTY
    if mask is not None:
        allowed = int(mask.sum())
        if allowed == 0:
            return EMPTY
        # A selective filter: scoring only the allowed rows is cheaper and exact.
        if allowed <= 4 * max(k, 256) or allowed * 8 <= n:
            exact = True
    if not exact:
        with entry.graph_lock:
            graph = entry.graph
            if graph is not None and graph.layout == data.layout and 0 < graph.n <= n:
                rows, sims = _graph_search(graph, query, k, mask)
                start = graph.n
            else:
                graph = None
        if graph is not None:
            tail_rows, tail_sims = _exact(data, query, k, start, mask)
            return _top(np.concatenate([rows, tail_rows]), np.concatenate([sims, tail_sims]), k)
    return _exact(data, query, k, 0, mask)


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
    state: tuple[int, int] | None = None,
) -> list[tuple[int, float]]:
    """The ``k`` most similar searchable memories of a persona: ``[(memory_id, cosine)]``.

    ``state``: the persona's ``(revision, layout)`` just read by the caller (one query for
    several personas: ``memory.candidates.sharing_plan``); read here otherwise."""
    entry = _entry(str(persona_id), state)
    data = entry.data
    if data is None:
        return []
    query = np.ascontiguousarray(query, dtype=np.float32)
    mask = _mask(entry, data, kinds, about, visibilities, allowed_ids)
    rows, sims = _search_data(entry, data, query, k, mask, exact)
    ids = data.ids[rows]
    return [(int(i), float(s)) for i, s in zip(ids, sims, strict=True)]


def stats(persona_id: str) -> dict:
    """What the cache holds for a persona (admin, tests)."""
    entry = _entry(str(persona_id))
    data, graph = entry.data, entry.graph
    current = graph is not None and data is not None and graph.layout == data.layout
    return {
        "vectors": 0 if data is None else data.n,
        "graph_rows": graph.n if current else 0,
        "revision": entry.revision,
        "layout": entry.layout,
    }


def held_bytes() -> tuple[int, int]:
    """``(bytes, rows)`` the cache holds over all personas: the rows written (vectors, ids and
    codes; unused capacity is untouched zero pages) and the HNSW graphs (their copy of the
    vectors and the links). bench/soak.py counts it as data growth, not a leak."""
    size = rows = 0
    for entry in list(_entries.values()):
        data, graph = entry.data, entry.graph
        if data is not None:
            size += data.n * sum(getattr(data, c)[:1].nbytes for c in COLUMNS)
            rows += data.n
        if graph is not None:
            index, hnsw = graph.index, graph.index.hnsw
            size += index.ntotal * index.d * 4 + hnsw.neighbors.size() * 4
            size += hnsw.levels.size() * 4 + hnsw.offsets.size() * 8
    return size, rows
