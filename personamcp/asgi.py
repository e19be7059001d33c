"""ASGI entry point: HTTP through Django, WebSockets at /mcp through Channels."""

import asyncio
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "personamcp.settings")
django_asgi_app = get_asgi_application()  # sets up Django before consumers are imported

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

from personamcp import jobs, malloc, metrics, wsframes  # noqa: E402
from personamcp.routing import websocket_urlpatterns  # noqa: E402
from personamcp.rpc.middleware import ApiKeyAuthMiddleware, OriginValidatorMiddleware  # noqa: E402
from personamcp.static import StaticFilesHandler  # noqa: E402

wsframes.install()  # frames over the limit get -32600 instead of a dropped connection

application = ProtocolTypeRouter(
    {
        # Static files (admin CSS, the chat page's JS) are served by Django itself in the
        # self-hosted default; set PERSONAMCP_SERVE_STATIC=0 when a proxy serves STATIC_ROOT.
        "http": StaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app,
        # The staff session is read by ApiKeyAuthMiddleware (no per-frame session wrapper).
        "websocket": OriginValidatorMiddleware(
            ApiKeyAuthMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


jobs.run_server_starts()
# That start-up work ran on the event loop's thread, which never uses the database again: its
# connection is closed, not held for the life of the process (an open SQLite connection keeps
# the descriptors of every other closed connection to the file open; see docs/deployment.md).
# (Not when imported by a test: inside its transaction, or on its running event loop.)
if not connections["default"].in_atomic_block and not _loop_running():
    connections["default"].close()
malloc.start_trimmer()  # glibc keeps freed memory: hand it back (personamcp/malloc.py)
metrics.start_socket_reporter()  # scaled mode: this process's open sockets, for the overview
if os.environ.get("PERSONAMCP_SCHEDULER", "1") != "0":
    jobs.start_embedded_scheduler()
if os.environ.get("PERSONAMCP_WARMUP", "1") != "0":
    jobs.warm_up_in_background()
