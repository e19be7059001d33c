"""Fixtures of the game-world tests."""

from __future__ import annotations

import pytest

from tests.conftest import eventually  # noqa: F401
from tests.conversations.conftest import fake_ollama, fake_openai  # noqa: F401


@pytest.fixture
def tavern(demo):
    """A spatial room of alice, rook and pip (hearing radius 5), all at the origin."""
    from rooms.services import room_create

    def make(*slugs: str, radius: float = 5.0, name: str = "The Wayward Goose"):
        return room_create(
            name=name,
            personas=[demo[s] for s in (slugs or ("alice", "rook", "pip"))],
            spatial_room=True,
            hearing_radius=radius,
        )

    return make


@pytest.fixture
def room_of(demo):
    """room_of("alice", "rook") -> a new room (not spatial) of these demo personas."""
    from rooms.services import room_create

    def make(*slugs: str, name: str = "The Harbour"):
        return room_create(name=name, personas=[demo[s] for s in slugs])

    return make
