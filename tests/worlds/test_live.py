"""Game worlds against a running daphne: world.event and scene.move over a real WebSocket and
REST, the world.event live event and its scope filter, hearing radius as personas move."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from memory.models import Memory
from personas.models import PersonaState, Relationship
from tests.conversations.test_live import Ws as BaseWs

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Ws(BaseWs):
    def wait_event(self, event_type: str, timeout: float = 10) -> dict:
        """The first ``event`` notification of this type (received before or now)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, note in enumerate(self.notes):
                if note.get("method") == "event" and note["params"]["type"] == event_type:
                    return self.notes.pop(i)
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {event_type} event within {timeout}s"
            self.notes.append(json.loads(self.ws.recv(timeout=remaining)))


def test_events_and_movement_on_a_live_server(live_server_proc, make_key, demo):
    server = live_server_proc()
    key = make_key("write")
    c = Ws(server.ws, key)
    watcher = Ws(server.ws, key)
    outsider = Ws(server.ws, make_key("write", personas=[demo["elias"]]))
    try:
        room = c.call(
            "room.create",
            {"name": "Goose", "persona_ids": ["alice", "rook", "pip"], "spatial": True,
             "hearing_radius": 5},
        )  # fmt: skip
        topic = f"room.{room['id']}"
        assert watcher.call("events.subscribe", {"topics": [topic]})["subscribed"] == [topic]
        outsider.call("events.subscribe", {"topics": ["*"]})
        moved = c.call(
            "scene.move",
            {"room_id": room["id"], "entity_id": "pip", "position": {"x": 30, "y": 0, "z": 0}},
        )
        assert moved["entity_kind"] == "persona" and moved["position"]["x"] == 30
        gift = c.call(
            "world.event",
            {"room_id": room["id"], "type": "gift", "description": "Mara hands Alice a rose.",
             "actor": "player-1", "target": "alice", "position": {"x": 1, "y": 0, "z": 0},
             "data": {"actor_name": "Mara"}},
        )  # fmt: skip
        seen = {p["persona_slug"]: p for p in gift["perceived_by"]}
        assert set(seen) == {"alice", "rook"}  # pip is 29 m away
        assert seen["alice"]["role"] == "target" and seen["rook"]["role"] == "witness"
        assert seen["alice"]["relationship"]["affinity"] > 0
        alice = Memory.objects.get(pk=seen["alice"]["memory_id"])
        assert alice.content.startswith("Mara did something to me (gift)")
        assert PersonaState.objects.get(persona=demo["alice"]).mood == seen["alice"]["mood"]
        note = watcher.wait_event("world.event")
        assert note["params"]["data"]["event_id"] == gift["event_id"]
        assert sorted(note["params"]["data"]["perceived_by"]) == sorted(
            [str(demo["alice"].id), str(demo["rook"].id)]
        )
        # Pip walks over: now Pip perceives, and Alice (30 m away) does not.
        c.call(
            "scene.move",
            {"room_id": room["id"], "entity_id": "player-1", "position": {"x": 29, "y": 0, "z": 0}},
        )
        attack = httpx.post(
            f"{server.http}/api/world/events/",
            headers={"Authorization": f"Bearer {key}"},
            json={"room_id": room["id"], "type": "attack", "actor": "player-1",
                  "target": "pip", "description": "Mara shoves Pip off the stage."},
            timeout=30,
        )  # fmt: skip
        assert attack.status_code == 201, attack.text
        [pip] = attack.json()["perceived_by"]
        assert pip["persona_slug"] == "pip" and pip["emotion"] == "afraid"
        rel = Relationship.objects.get(persona=demo["pip"], other_id="player-1")
        assert rel.trust < 0
        state = c.call("room.state", {"room_id": room["id"]})
        assert {p["entity_id"]: p["position"]["x"] for p in state["positions"]}["player-1"] == 29
        bad = c.wait(
            c.send(
                "scene.move",
                {"room_id": room["id"], "entity_id": "pip", "position": {"x": 1, "y": "2"}},
            )
        )
        fields = [e["field"] for e in bad["error"]["data"]["errors"]]
        assert bad["error"]["code"] == -32602 and {"position.y", "position.z"} <= set(fields)
        assert c.call("room.state", {"room_id": room["id"]}) == state
        # A key that covers none of the room's personas never hears of the room's events.
        outsider.call("system.ping")
        assert not [n for n in outsider.notes if n.get("method") == "event"]
    finally:
        c.close()
        watcher.close()
        outsider.close()
