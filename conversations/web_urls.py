"""Browser-facing routes: the staff chat page (static files are served by personamcp.asgi)."""

from django.urls import path

from conversations import web

urlpatterns = [path("", web.chat_page, name="chat-page")]
