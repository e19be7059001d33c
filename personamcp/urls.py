from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from personamcp import health
from personamcp.media import serve_media
from personamcp.metrics import metrics_view
from personamcp.rpc.http import mcp_http

api_patterns = [
    path("", include("personas.urls")),
    path("", include("memory.urls")),
    path("", include("conversations.urls")),
    path("", include("bots.urls")),
    path("", include("lore.urls")),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[]),
        name="api-docs",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("mcp", mcp_http, name="mcp-http"),
    path("v1/", include("openai_compat.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("conversations.web_urls")),
    # User uploads (avatars), never served as a document (personamcp.media). A reverse proxy
    # serving MEDIA_ROOT itself must send the same headers (docs/security.md).
    re_path(r"^media/(?P<path>.*)$", serve_media),
]
