"""Short exclusive locks in the cache (Redis when scaled, so they hold across processes)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

from django.core.cache import cache

from personamcp.exceptions import Busy


@contextlib.contextmanager
def busy_lock(key: str, *, ttl: int, message: str) -> Iterator[Callable[[], None]]:
    """Hold ``key`` or raise ``Busy(message)``; yields a function that extends the expiry.

    The expiry frees the lock when the process holding it dies; only the holder releases it.
    """
    token = uuid.uuid4().hex
    if not cache.add(key, token, timeout=ttl):
        raise Busy(message)
    try:
        yield lambda: cache.touch(key, ttl)
    finally:
        if cache.get(key) == token:
            cache.delete(key)
