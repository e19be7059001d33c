from django.urls import path

from personamcp.rpc.consumer import McpConsumer

websocket_urlpatterns = [path("mcp", McpConsumer.as_asgi())]
