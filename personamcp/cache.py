"""The scaled mode's cache backend: Django's Redis cache with one client per process.

Django keeps a cache backend instance per thread, and each instance of its ``RedisCache``
makes its own redis-py connection pool, so a server with 64 worker threads held up to 64
pools, each with the connections of its thread's busiest moment. Here every instance with
the same servers and options shares one client and its pool: the process's Redis sockets
grow with the calls made at once, not with the number of threads that ever made one.
:func:`redis_client` hands the same pool to the code that needs raw redis-py commands
(locks, the rate limit's pipeline).
"""

from __future__ import annotations

import functools

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


@functools.cache
def _shared_client(servers: tuple[str, ...], options: tuple) -> RedisCacheClient:
    return RedisCacheClient(list(servers), **dict(options))


class RedisCache(DjangoRedisCache):
    @functools.cached_property
    def _cache(self) -> RedisCacheClient:
        return _shared_client(tuple(self._servers), tuple(sorted(self._options.items())))


def redis_client(write: bool = True):
    """The redis-py client of the default cache's shared pool (scaled mode only)."""
    return caches["default"]._cache.get_client(write=write)
