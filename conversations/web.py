"""The staff web chat page at ``/`` and the static files it needs.

The page itself only renders a shell; everything it shows comes from the server over the
WebSocket JSON-RPC protocol at ``/mcp`` (``static/chat/chat.js``), authenticated by the staff
user's session cookie, or anonymously in local-development mode.
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from personamcp.auth import DEV_PRINCIPAL, principal_from_user

# Module scripts must be served with a JavaScript MIME type, whatever the system's mime.types says.
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/css", ".css")
mimetypes.add_type("image/svg+xml", ".svg")


def chat_participant(request: HttpRequest) -> tuple[str, str] | None:
    """The participant id and display name the page chats as, or None when it may not be used.

    The id is the one the RPC session of this browser gets by default (``Session.user_id``):
    ``staff:<username>`` for a staff user, the development principal in dev mode.
    """
    principal = principal_from_user(request.user)
    if principal is not None:
        user = request.user
        return principal.name, user.get_full_name() or user.get_username()
    if settings.DEV_MODE:
        return DEV_PRINCIPAL.name, "You"
    return None


@require_GET
def chat_page(request: HttpRequest) -> HttpResponse:
    """The chat page: staff only, except in local-development mode."""
    participant = chat_participant(request)
    if participant is None:
        return redirect_to_login(request.get_full_path(), login_url=reverse("admin:login"))
    participant_id, participant_name = participant
    context = {
        "participant_name": participant_name,
        "dev_mode": settings.DEV_MODE,
        "version": settings.PERSONAMCP["VERSION"],
        "is_staff": bool(getattr(request.user, "is_staff", False)),
        # Read by static/chat/chat.js (rendered with json_script, so it is safely escaped).
        "chat_config": {
            "ws_path": "/mcp",
            "participant_id": participant_id,
            "participant_name": participant_name,
            "login_url": f"{reverse('admin:login')}?next=/",
            "max_message_chars": settings.PERSONAMCP["MAX_MESSAGE_CHARS"],
        },
    }
    return render(request, "chat/index.html", context)
