from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from personamcp import health
from personamcp.media import serve_media
from personamcp.metrics import metrics_view
from personamcp.rpc.http import mcp_http
from personamcp.rpc.openrpc import openrpc_view


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI from the sidecar's static files, started by a static script (no inline JS)."""

    template_name = "api_docs/swagger.html"


class RedocView(SpectacularRedocView):
    """ReDoc from the sidecar's static files, without web fonts or inline code."""

    template_name = "api_docs/redoc.html"


api_patterns = [
    path("", include("personas.urls")),
    path("", include("memory.urls")),
    path("", include("conversations.urls")),
    path("", include("rooms.urls")),
    path("", include("worlds.urls")),
    path("", include("bots.urls")),
    path("", include("lore.urls")),
    path("", include("goals.urls")),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path(
        "docs/",
        SwaggerView.as_view(url_name="api-schema", permission_classes=[]),
        name="api-docs",
    ),
    path(
        "redoc/", RedocView.as_view(url_name="api-schema", permission_classes=[]), name="api-redoc"
    ),
]
# API clients get the API's JSON error body for unknown URLs and crashes, never an HTML page.
handler404 = "personamcp.api.not_found"
handler500 = "personamcp.api.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("mcp", mcp_http, name="mcp-http"),
    path("openrpc.json", openrpc_view, name="openrpc"),
    path("v1/", include("openai_compat.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("conversations.web_urls")),
    # User uploads (avatars), never served as a document (personamcp.media). A reverse proxy
    # serving MEDIA_ROOT itself must send the same headers (docs/security.md).
    re_path(r"^media/(?P<path>.*)$", serve_media),
]
