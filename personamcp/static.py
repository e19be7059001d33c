"""Static files served by the ASGI application itself (the self-hosted default)."""

from __future__ import annotations

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import HttpResponseNotFound


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's static files handler; a path escaping the static folders is a plain 404."""

    async def get_response_async(self, request):
        try:
            return await super().get_response_async(request)
        except SuspiciousFileOperation:
            return HttpResponseNotFound()
