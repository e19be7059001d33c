"""Fixtures of the room tests (the conversation tests' Celery worker and ``eventually``)."""

from __future__ import annotations

import pytest

from tests.conftest import eventually  # noqa: F401
from tests.conversations.conftest import fake_ollama  # noqa: F401


@pytest.fixture
def room_of(demo):
    """room_of("alice", "rook", policy=...) -> a new Room of these demo personas."""
    from rooms.services import room_create

    def make(*slugs: str, policy: str = "natural", name: str = "The Wayward Goose"):
        return room_create(name=name, personas=[demo[s] for s in slugs], policy=policy)

    return make
