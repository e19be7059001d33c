"""The server-side memory probe of bench/soak.py, loaded into the server through PYTHONPATH.

Active only with ``SOAK_PROBE=<report file>``. On SIGUSR1 it appends one JSON line to the file:
RSS; the data the server holds in memory by design (the in-process memory index's vectors and
HNSW graphs, ``memory.index.held_bytes``; the read cache's entries; the embedding query cache;
SQLite's own heap: page caches of open connections, ``sqlite3_memory_used``); where the rest
lives (glibc malloc, ``mallinfo2``: bytes in use, free but held, mmapped, and the number of
arenas from ``malloc_info``; Python's object allocator: its 1 MiB arenas and the bytes in
allocated blocks, ``sys._debugmallocstats``); live threads, asyncio tasks, queued background
jobs, open descriptors and the open SQLite connections by holder (a Django connection's
thread, or "other"). ``SOAK_PROBE_ORT_ARENA=0`` turns off onnxruntime's CPU memory arena in
every session the server creates (to compare). With ``SOAK_PROBE_OBJECTS=1`` each line after the first also counts the live
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

    _libc = ctypes.CDLL("libc.so.6")

    def _index() -> tuple[int, int]:
        """(bytes, rows) of the in-process memory index, arrays and graphs."""
        index = sys.modules.get("memory.index")
        return index.held_bytes() if index is not None else (0, 0)

    def _caches() -> dict:
        """Bytes of the other bounded caches: read results and query embeddings."""
        out = {"readcache_entries": 0, "readcache_mib": 0.0, "query_cache_mib": 0.0}
        readcache = sys.modules.get("personamcp.rpc.readcache")
        if readcache is not None:
            seen: set[int] = set()
            size = 0
            for obj in gc.get_objects():
                if isinstance(obj, readcache.ReadCache):
                    entries = list(obj._entries.values())
                    out["readcache_entries"] += len(entries)
                    for _, value in entries:  # one value may sit under several keys
                        if id(value) not in seen:
                            seen.add(id(value))
                            size += _deep_size(value)
            out["readcache_mib"] = round(size / 2**20, 2)
        embeddings = sys.modules.get("memory.embeddings")
        if embeddings is not None:
            cache = list(embeddings._query_cache.items())
            size = sum(sys.getsizeof(k) + v.nbytes + 112 for k, v in cache)
            out["query_cache_mib"] = round(size / 2**20, 2)
        return out

    def _deep_size(value, depth: int = 0) -> int:
        size = sys.getsizeof(value)
        if depth < 6 and isinstance(value, dict):
            size += sum(
                _deep_size(k, depth + 1) + _deep_size(v, depth + 1) for k, v in value.items()
            )
        elif depth < 6 and isinstance(value, (list, tuple)):
            size += sum(_deep_size(v, depth + 1) for v in value)
        return size

    class _Mallinfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                "uordblks", "fordblks", "keepcost",
            )
        ]  # fmt: skip

    def _malloc() -> dict:
        """glibc malloc: bytes in use, free but held (fragmentation), mmapped; arenas."""
        try:
            info = _libc.mallinfo2
        except AttributeError:
            return {}
        info.restype = _Mallinfo2
        m = info()
        out = {
            "malloc_used_mib": round((m.uordblks + m.hblkhd) / 2**20, 1),
            "malloc_free_mib": round(m.fordblks / 2**20, 1),
            "malloc_mmap_mib": round(m.hblkhd / 2**20, 1),
        }
        path = os.environ["SOAK_PROBE"] + ".malloc.xml"
        _libc.fopen.restype = ctypes.c_void_p
        _libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        _libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        _libc.fclose.argtypes = [ctypes.c_void_p]
        stream = _libc.fopen(path.encode(), b"w")
        if stream:
            _libc.malloc_info(0, stream)
            _libc.fclose(stream)
            with open(path) as f:
                out["malloc_arenas"] = f.read().count("<heap nr=")
        return out

    def _pymalloc() -> dict:
        """Python's object allocator: arenas held and bytes in allocated blocks."""
        import re
        import tempfile

        with tempfile.TemporaryFile("w+") as tmp:
            sys.stderr.flush()
            saved = os.dup(2)
            try:
                os.dup2(tmp.fileno(), 2)
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            tmp.seek(0)
            text = tmp.read()
        arenas = re.search(r"(\d+) arenas \* (\d+) bytes/arena", text.replace(",", ""))
        used = re.search(r"# bytes in allocated blocks\s*=\s*([\d,]+)", text)
        out = {}
        if arenas:
            out["pymalloc_arenas_mib"] = round(int(arenas[1]) * int(arenas[2]) / 2**20, 1)
        if used:
            out["pymalloc_used_mib"] = round(int(used[1].replace(",", "")) / 2**20, 1)
        return out

    def _sqlite_heap() -> dict:
        """SQLite's own allocations (page caches, schema, statements) in this process: the
        library the sqlite3 module links (one copy per process, so one set of counters)."""
        try:
            lib = ctypes.CDLL("libsqlite3.so.0")
        except OSError:
            return {}
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return {"sqlite_heap_mib": round(lib.sqlite3_memory_used() / 2**20, 2)}

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
        jobs = sys.modules.get("personamcp.jobs")
        record = {
            "rss_mib": round(_rss(), 1),
            "index_mib": round(index_bytes / 2**20, 2),
            "index_rows": rows,
            **_caches(),
            **_sqlite_heap(),
            **_malloc(),
            **_pymalloc(),
            "threads": threading.active_count(),
            "jobs_pending": jobs.pending() if hasattr(jobs, "pending") else 0,
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
        _libc.malloc_trim(0)
        _write({"trim_before_mib": round(before, 1), "trim_after_mib": round(_rss(), 1)})

    if os.environ.get("SOAK_PROBE_ORT_ARENA") == "0":
        import onnxruntime

        _session_init = onnxruntime.InferenceSession.__init__

        def _without_arena(self, path, sess_options=None, *args, **kwargs):
            sess_options = sess_options or onnxruntime.SessionOptions()
            sess_options.enable_cpu_mem_arena = False
            _session_init(self, path, sess_options, *args, **kwargs)

        onnxruntime.InferenceSession.__init__ = _without_arena

    signal.signal(signal.SIGUSR1, _snapshot)
    signal.signal(signal.SIGUSR2, _trim)
