"""Static files served by the ASGI application itself (the self-hosted default)."""

from __future__ import annotations

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import HttpResponseNotFound


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's static files handler; a path escaping the static folders is a plain 404.

    Static responses bypass the middleware (and so ``SecurityMiddleware``): the headers that
    keep browsers from sniffing a file into another type are set here.
    """

    async def get_response_async(self, request):
        try:
            response = await super().get_response_async(request)
        except SuspiciousFileOperation:
            response = HttpResponseNotFound()
        response["X-Content-Type-Options"] = "nosniff"
        response.setdefault("Referrer-Policy", "same-origin")
        return response
