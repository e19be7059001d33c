"""Goals (goal.set / goal.list / goal.complete and /api/goals/), world-event triggers, and the
``persona.trigger`` event."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from goals.models import Goal, Trigger
from goals.services import fire_event_triggers
from personas.models import Relationship
from tests.goals.conftest import chat_requests, system_prompt

pytestmark = pytest.mark.django_db(transaction=True)


def result(answer: dict) -> dict:
    assert "result" in answer, answer
    return answer["result"]


def test_set_list_complete(rpc, demo):
    low = result(rpc("goal.set", {"persona_id": "alice", "goal": "Tidy the shop", "priority": 1}))
    high = result(
        rpc(
            "goal.set",
            {
                "persona_id": "alice",
                "goal": "Find the lost cat",
                "priority": 9,
                "completion": "the cat is home",
            },
        )
    )
    assert high["status"] == "active" and high["completion"] == "the cat is home"
    assert high["persona_id"] == str(demo["alice"].id) and high["goal"] == "Find the lost cat"
    listed = result(rpc("goal.list", {"persona_id": "alice"}))
    assert [g["id"] for g in listed["goals"]] == [high["id"], low["id"]]
    done = result(rpc("goal.complete", {"persona_id": "alice", "goal": high["id"]}))
    assert done["status"] == "completed" and done["closed_at"]
    failed = result(
        rpc("goal.complete", {"persona_id": "alice", "goal": "Tidy the shop", "status": "failed"})
    )
    assert failed["status"] == "failed"
    active = result(rpc("goal.list", {"persona_id": "alice", "status": "active"}))
    assert active["goals"] == []


def test_set_again_by_text_or_id_changes_the_same_goal(rpc):
    made = result(rpc("goal.set", {"persona_id": "alice", "goal": "Sell the boat"}))
    again = result(rpc("goal.set", {"persona_id": "alice", "goal": "Sell the boat", "priority": 3}))
    assert again["id"] == made["id"] and again["priority"] == 3
    renamed = result(
        rpc("goal.set", {"persona_id": "alice", "goal": "Sell the big boat", "goal_id": made["id"]})
    )
    assert renamed["id"] == made["id"] and renamed["goal"] == "Sell the big boat"
    assert Goal.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("goal.set", {"goal": ""}, "goal"),
        ("goal.set", {"goal": "x", "status": "done"}, "status"),
        ("goal.set", {"goal": "x", "priority": "high"}, "priority"),
        ("goal.set", {"goal": "x", "colour": "red"}, "colour"),
        ("goal.complete", {"goal": "x", "status": "active"}, "status"),
    ],
)
def test_bad_goal_input_names_the_field_and_changes_nothing(rpc, method, params, field):
    answer = rpc(method, {"persona_id": "alice", **params})
    assert answer["error"]["code"] == -32602
    assert field in [e["field"] for e in answer["error"]["data"]["errors"]]
    assert not Goal.objects.exists()


def test_completing_an_unknown_goal_is_not_found(rpc):
    assert rpc("goal.complete", {"persona_id": "alice", "goal": "nope"})["error"]["code"] == -32007


def test_active_goals_enter_the_prompt_by_priority(rpc, wire):
    rpc("goal.set", {"persona_id": "alice", "goal": "Sell more pies", "priority": 1})
    rpc("goal.set", {"persona_id": "alice", "goal": "Find Tom", "priority": 5,
                     "completion": "Tom is found"})  # fmt: skip
    rpc("goal.set", {"persona_id": "alice", "goal": "Old dream", "status": "failed"})
    rpc("conversation.send_message", {"persona_id": "alice", "content": "Hello"})
    prompt = system_prompt(chat_requests(wire)[-1])
    assert prompt.index("Find Tom (done when: Tom is found)") < prompt.index("Sell more pies")
    assert "Old dream" not in prompt


def test_rest_parity(api_as, demo):
    client = api_as("write")
    made = client.post(
        "/api/goals/", {"persona_id": "alice", "goal": "Open a second shop"}, format="json"
    )
    assert made.status_code == 200, made.content
    listed = client.get("/api/goals/", {"persona_id": "alice"}).json()
    assert [g["goal"] for g in listed["goals"]] == ["Open a second shop"]
    done = client.post(
        "/api/goals/complete/", {"persona_id": "alice", "goal": made.json()["id"]}, format="json"
    )
    assert done.json()["status"] == "completed"
    trigger = client.post(
        "/api/triggers/",
        {"persona_id": "alice", "name": "t", "when": {"keywords": ["x"]}, "then": {"say": "y"}},
        format="json",
    )
    assert trigger.status_code == 201, trigger.content
    tid = trigger.json()["id"]
    assert client.get(f"/api/triggers/{tid}/").json()["name"] == "t"
    assert [t["id"] for t in client.get("/api/triggers/").json()["triggers"]] == [tid]
    bad = client.post(
        "/api/triggers/",
        {"persona_id": "alice", "name": "t", "when": {"mood": 1}, "then": {"say": "y"}},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["data"]["errors"][0]["field"] == "when.mood"
    assert client.delete(f"/api/triggers/{tid}/").json() == {"deleted": True}
    assert not Trigger.objects.exists()


def test_world_event_triggers(demo):
    alice = demo["alice"]
    Trigger.objects.create(
        persona=alice,
        name="gift from a friend",
        when={"event_type": "gift", "relationship_stage": "friend"},
        then={"say": "You shouldn't have!"},
    )
    Trigger.objects.create(
        persona=alice, name="sword", when={"event_type": "gift", "keywords": ["sword"]},
        then={"goal": {"goal": "Learn to fight", "status": "active"}},
    )  # fmt: skip
    Trigger.objects.create(persona=alice, name="msg", when={}, then={"instruct": "x"})
    fired = fire_event_triggers(
        persona=alice, event_type="gift", description="Mara gave me a sword.", actor="mara"
    )
    assert [f["name"] for f in fired] == ["sword"]  # mara is a stranger; messages-only skipped
    assert Goal.objects.get(persona=alice).text == "Learn to fight"
    Relationship.objects.create(
        persona=alice, other_id="mara", other_kind="participant", stage="friend"
    )
    fired = fire_event_triggers(
        persona=alice, event_type="GIFT", description="Mara gave me bread.", actor="mara"
    )
    assert [f["name"] for f in fired] == ["gift from a friend"]
    assert fire_event_triggers(persona=alice, event_type="attack", description="x") == []


async def test_fired_trigger_is_a_scope_filtered_persona_trigger_event(rpc_connect, make_key, demo):
    alice, rook = demo["alice"], demo["rook"]
    watcher = await rpc_connect(await sync_to_async(make_key)("read"))
    outsider = await rpc_connect(await sync_to_async(make_key)("read", [rook]))
    try:
        for client in (watcher, outsider):
            await client.result("events.subscribe", {"topics": ["persona.*"]})
        await sync_to_async(Trigger.objects.create)(
            persona=alice, name="bell", when={"keywords": ["bell"]}, then={"instruct": "Ring."}
        )
        await sync_to_async(fire_event_triggers)(
            persona=alice, event_type="noise", description="x"
        )  # nothing fires: no event
        writer = await rpc_connect(await sync_to_async(make_key)("write"))
        await writer.result(
            "conversation.send_message", {"persona_id": "alice", "content": "Ring the bell!"}
        )
        await writer.close()
        while True:
            note = await watcher.notification("event", timeout=10)
            if note["params"]["type"] == "persona.trigger":
                break
        data = note["params"]["data"]
        assert data["name"] == "bell" and data["persona_id"] == str(alice.id)
        assert data["source"] == "message" and data["conversation_id"]
        assert await outsider.ws.receive_nothing(timeout=0.5)  # a key limited to rook
    finally:
        await watcher.close()
        await outsider.close()


def test_world_event_result_lists_the_triggers_it_fired(rpc, demo):
    made = result(
        rpc(
            "trigger.create",
            {
                "persona_id": "alice",
                "name": "thanks for the gift",
                "when": {"event_type": "gift", "keywords": ["sword"]},
                "then": {"goal": "Thank Mara properly", "instruct": "Thank them."},
                "once": True,
            },
        )
    )
    event = {
        "type": "gift",
        "description": "Mara gives Alice a fine sword.",
        "persona_id": "alice",
        "actor": "mara",
    }
    fired = result(rpc("world.event", event))["triggers_fired"]
    assert [f["trigger_id"] for f in fired] == [made["id"]]
    assert fired[0]["matched"] == {"event_type": "gift", "keywords": ["sword"]}
    assert Goal.objects.get(persona=demo["alice"]).text == "Thank Mara properly"
    assert result(rpc("world.event", event))["triggers_fired"] == []  # once
    other = {**event, "type": "attack", "description": "Mara swings a sword."}
    assert result(rpc("world.event", other))["triggers_fired"] == []
