"""The admin: rooms with members and lines inline, and the close action."""

from __future__ import annotations

from html import escape

import pytest
from django.contrib.auth import get_user_model

from rooms import services as rooms
from rooms.models import Room

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("admin", "a@example.org", "pw-123456")
    client.force_login(user)
    return client


def test_room_admin_lists_members_lines_and_closes(staff_client, room_of):
    room = room_of("alice", "rook", name="Back parlour")
    sent = rooms.room_send(room=room, content="Rook, a word?", sender="bob", sender_name="Bob")
    listing = staff_client.get("/admin/rooms/room/")
    assert listing.status_code == 200
    assert "Back parlour" in listing.content.decode()
    assert "Alice Thornbury, Rook" in listing.content.decode()
    page = staff_client.get(f"/admin/rooms/room/{room.id}/change/").content.decode()
    assert "Rook, a word?" in page and escape(sent["replies"][0]["response"][:20]) in page
    response = staff_client.post(
        "/admin/rooms/room/",
        {"action": "close_rooms", "_selected_action": [str(room.id)]},
    )
    assert response.status_code == 302
    assert Room.objects.get(pk=room.id).closed_at is not None
