"""The server-side memory probe of bench/soak.py, loaded into the server through PYTHONPATH.

Active only with ``SOAK_PROBE=<report file>``. On SIGUSR1 it appends one JSON line to the file:
RSS, the bytes held by the in-process memory index (``memory.index``: vectors and HNSW graphs,
the growth every stored memory is expected to cost), live threads, asyncio tasks, queued
background jobs, open descriptors and the open SQLite connections by holder (a Django
connection's thread, or "other"). With ``SOAK_PROBE_OBJECTS=1`` each line after the first also counts the live
objects grown by type (a full gc pass: a short pause). With
``SOAK_PROBE_TRACE=<frames>`` tracemalloc starts at the first SIGUSR1 (the end of the warm-up;
it slows the server down) and each later line holds the top allocation sites still alive. On SIGUSR2 it calls glibc's ``malloc_trim(0)`` and records RSS before and after: memory
the allocator held without using it (fragmentation), as opposed to live objects.
"""

import os

if os.environ.get("SOAK_PROBE"):
    import asyncio
    import collections
    import ctypes
    import gc
    import json
    import signal
    import sys
    import threading
    import tracemalloc

    FRAMES = int(os.environ.get("SOAK_PROBE_TRACE") or 0)
    OBJECTS = FRAMES or os.environ.get("SOAK_PROBE_OBJECTS") == "1"
    _base: dict = {}

    def _rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _index() -> tuple[int, int]:
        """(bytes, rows) of the in-process memory index, arrays and graphs."""
        index = sys.modules.get("memory.index")
        if index is None:
            return 0, 0
        size = rows = 0
        for entry in list(index._entries.values()):
            data, graph = entry.data, entry.graph
            if data is not None:  # the rows written (capacity beyond is untouched calloc)
                per_row = sum(getattr(data, c)[:1].nbytes for c in index.COLUMNS)
                size += data.n * per_row
                rows += data.n
            if graph is not None:
                hnsw = graph.index.hnsw
                size += graph.index.ntotal * graph.index.d * 4
                size += hnsw.neighbors.size() * 4 + hnsw.levels.size() * 4
                size += hnsw.offsets.size() * 8 + hnsw.assign_probas.size() * 8
        return size, rows

    def _sqlite() -> dict:
        """Open SQLite connections by holder: a Django connection's thread name, or "other"
        (a connection Django does not manage, e.g. the read cache's watcher)."""
        import sqlite3

        names = {t.ident: t.name.rstrip("0123456789_-") for t in threading.enumerate()}
        django_conns = {}
        for obj in gc.get_objects():
            if type(obj).__name__ == "DatabaseWrapper" and obj.connection is not None:
                django_conns[id(obj.connection)] = names.get(obj._thread_ident, "exited thread")
        held: collections.Counter = collections.Counter()
        for obj in gc.get_objects():
            if isinstance(obj, sqlite3.Connection):
                try:
                    _ = obj.total_changes  # raises once closed
                except sqlite3.ProgrammingError:
                    continue
                held[django_conns.get(id(obj), "other")] += 1
        return dict(held)

    def _write(record: dict) -> None:
        with open(os.environ["SOAK_PROBE"], "a") as f:
            f.write(json.dumps(record) + "\n")

    def _snapshot(signum, frame) -> None:
        index_bytes, rows = _index()
        record = {
            "rss_mib": round(_rss(), 1),
            "index_mib": round(index_bytes / 2**20, 2),
            "index_rows": rows,
            "threads": threading.active_count(),
            "jobs_pending": len(getattr(sys.modules.get("personamcp.jobs"), "_pending", ())),
            "fds": len(os.listdir("/proc/self/fd")),
            "sqlite": _sqlite(),
        }
        try:
            record["tasks"] = len(asyncio.all_tasks(asyncio.get_event_loop()))
        except RuntimeError:
            pass
        if OBJECTS:
            gc.collect()
            types = collections.Counter(type(o).__name__ for o in gc.get_objects())
            base = _base.setdefault("types", types)
            if base is not types:
                types.subtract(base)
                record["types"] = dict(types.most_common(20))
        if FRAMES and not tracemalloc.is_tracing():  # from the first signal on: what stays
            tracemalloc.start(FRAMES)
        if FRAMES:
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            record["traced_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
            first = _base.setdefault("snap", snap)
            if first is not snap:
                diff = snap.compare_to(first, "traceback" if FRAMES > 1 else "lineno")
                record["top"] = [
                    {
                        "kib": round(d.size_diff / 1024, 1),
                        "count": d.count_diff,
                        "where": [f"{f.filename}:{f.lineno}" for f in d.traceback][-FRAMES:],
                    }
                    for d in diff[:25]
                ]
        _write(record)

    def _trim(signum, frame) -> None:
        before = _rss()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        _write({"trim_before_mib": round(before, 1), "trim_after_mib": round(_rss(), 1)})

    signal.signal(signal.SIGUSR1, _snapshot)
    signal.signal(signal.SIGUSR2, _trim)
