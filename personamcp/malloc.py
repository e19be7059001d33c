"""Keep glibc's malloc from holding freed memory in a server process: a fixed mmap threshold,
and the free memory handed back periodically.

glibc's malloc keeps memory that Python, numpy and onnxruntime free in its arenas (one per
thread that allocates, up to 8 per core) and returns only what lies at the top of a heap. Under
a steady turn load the server's live objects stay flat while its RSS keeps rising: bench/soak.py
measured +80 MiB per 10,000 turns, all of it given back by one ``malloc_trim(0)``. A daemon
thread calls ``malloc_trim(0)`` every ``PERSONAMCP_MALLOC_TRIM_SECONDS`` (default 30; 0: never).
Started by the ASGI server (personamcp/asgi.py) and in each Celery worker process. The call
runs without the GIL and takes a few milliseconds; other allocators (musl, jemalloc
through LD_PRELOAD, macOS) lack the function, and then nothing is started.

The trimming does not reach memory freed in the middle of a heap among live chunks. glibc sends
an allocation of ``M_MMAP_THRESHOLD`` (128 KiB) or more to its own ``mmap``, returned to the
system when freed, but raises that threshold (up to 32 MiB) each time such a block is freed, so
after a while numpy's, onnxruntime's and SQLite's buffers of 128 KiB to 32 MiB come from the
heaps, where each turn's short-lived ones interleave with long-lived ones: bench/soak.py then
measured RSS still rising ~60 MiB per 10,000 turns after trimming, all of it free memory glibc
held (``mallinfo2``). So the threshold is fixed at ``PERSONAMCP_MALLOC_MMAP_THRESHOLD`` bytes
(default 131072; 0: glibc's dynamic threshold), unless ``MALLOC_MMAP_THRESHOLD_`` is set in the
environment (glibc applies that one itself).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)
_started = False


def _forget_thread() -> None:
    global _started
    _started = False  # a forked child (a Celery worker) has no thread: it may start its own


os.register_at_fork(after_in_child=_forget_thread)


def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold (see the module docstring); False when off or not glibc."""
    threshold = int(settings.PERSONAMCP.get("MALLOC_MMAP_THRESHOLD", 0))
    if threshold <= 0 or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, threshold) == 1


def start_trimmer() -> bool:
    """Fix the mmap threshold, start the trimming thread (idempotent); False when the
    trimming is off or not available."""
    global _started
    fix_mmap_threshold()
    every = float(settings.PERSONAMCP.get("MALLOC_TRIM_SECONDS", 0))
    if _started or every <= 0:
        return _started
    trim = _malloc_trim()
    if trim is None:
        log.info("malloc_trim is not available (not glibc): not trimming")
        return False
    _started = True

    def loop() -> None:
        while True:
            time.sleep(every)
            trim(0)

    threading.Thread(target=loop, name="malloc-trim", daemon=True).start()
    return True
