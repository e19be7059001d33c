"""A base for middleware that serves sync and async requests alike."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class HybridMiddleware:
    """Sync or async as the stack below it is. Subclasses override ``around(request)`` (a
    context manager the response is produced in) and/or ``finish(request, response)``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def around(self, request) -> AbstractContextManager:
        return nullcontext()

    def finish(self, request, response):
        return response

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        with self.around(request):
            return self.finish(request, self.get_response(request))

    async def __acall__(self, request):
        with self.around(request):
            return self.finish(request, await self.get_response(request))
