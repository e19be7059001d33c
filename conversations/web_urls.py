"""Browser-facing routes: the staff chat page and its static files."""

from django.conf import settings
from django.urls import path, re_path

from conversations import web

STATIC_PREFIX = settings.STATIC_URL.strip("/")

urlpatterns = [
    path("", web.chat_page, name="chat-page"),
    re_path(rf"^{STATIC_PREFIX}/(?P<path>.+)$", web.static_file, name="static-file"),
]
