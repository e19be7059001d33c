"""Every registered JSON-RPC method, called with valid params: its result is exactly the shape of
its registered result model (the model's own dump of the result gives the result back).

A method added without a call here fails ``test_every_method_is_called``; a method without a
result model, or whose result has fields its model does not know, is named in the failure.
"""

from __future__ import annotations

import jsonschema
import pytest
from asgiref.sync import sync_to_async
from pydantic import BaseModel

from personamcp.rpc.registry import registry
from tests.conversations.fakes import FakeLLMServer, closed_port

pytestmark = pytest.mark.django_db(transaction=True)

CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {"name": "Imported Ivy", "description": "a botanist", "first_mes": "Hello."},
}


def _calls(s: dict) -> list[tuple[str, object]]:
    """``(method, params)`` in call order; params may be a function of what came before."""
    return [
        ("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {}}),
        ("notifications/initialized", {}),
        ("ping", {}),
        ("server/discover", {}),
        ("system.ping", {}),
        ("system.info", {}),
        ("system.status", {}),
        ("rpc.discover", {}),
        ("session.authenticate", lambda: {"token": s["key"]}),
        ("session.info", {}),
        ("events.subscribe", {"topics": ["persona.*"]}),
        ("events.unsubscribe", {"topics": ["persona.*"]}),
        ("persona.list", {"limit": 2}),
        ("persona.get", {"persona_id": "alice"}),
        ("persona.create", {"name": "Shape Tester", "tags": ["t"]}),
        ("persona.update", lambda: {"persona_id": s["persona.create"]["id"], "greeting": "hi"}),
        ("persona.state", {"persona_id": "alice"}),
        ("persona.switch", {"persona_id": "alice"}),
        ("persona.export", {"persona_id": "alice"}),
        ("persona.import", {"card": CARD}),
        ("memory.store", {"persona_id": "alice", "content": "The tide comes in at noon."}),
        ("memory.get", lambda: {"memory_id": s["memory.store"]["id"]}),
        ("memory.list", {"persona_id": "alice", "limit": 5}),
        ("memory.search", {"persona_id": "alice", "query": "tide", "limit": 3}),
        ("memory.stats", {"persona_id": "alice"}),
        ("memory.reflect", {"persona_id": "alice"}),
        ("relationship.update", {"other_id": "user:ann", "interaction_quality": 0.5}),
        ("relationship.get", {"other_id": "user:ann"}),
        ("relationship.list", {"persona_id": "alice"}),
        ("relationship.compatibility", {"persona_id": "alice", "other_id": "rook"}),
        ("conversation.send_message", {"persona_id": "alice", "content": "Hello!"}),
        ("conversation.history", lambda: {"conversation_id": _conversation(s)}),
        ("conversation.list", {"persona_id": "alice"}),
        ("conversation.cancel", {"request_id": 424242}),
        ("conversation.end", lambda: {"conversation_id": _conversation(s)}),
        (
            "room.create",
            {
                "name": "Harbour",
                "persona_ids": ["alice", "rook"],
                "spatial": True,
                "hearing_radius": 50,
            },
        ),
        ("room.get", lambda: {"room_id": s["room.create"]["id"]}),
        ("room.list", {}),
        ("room.send", lambda: {"room_id": s["room.create"]["id"], "content": "Evening all."}),
        ("room.step", lambda: {"room_id": s["room.create"]["id"]}),
        ("room.history", lambda: {"room_id": s["room.create"]["id"]}),
        (
            "scene.move",
            lambda: {
                "room_id": s["room.create"]["id"],
                "entity_id": "rook",
                "position": {"x": 3, "y": 4, "z": 0},
            },
        ),
        ("room.state", lambda: {"room_id": s["room.create"]["id"]}),
        (
            "world.event",
            lambda: {
                "room_id": s["room.create"]["id"],
                "type": "gift",
                "actor": "user:ann",
                "target": "alice",
                "description": "Ann gave Alice a shell.",
                "position": {"x": 0, "y": 0, "z": 0},
            },
        ),
        ("room.close", lambda: {"room_id": s["room.create"]["id"]}),
        ("lorebook.create", {"name": "Harbour lore", "entries": []}),
        ("lorebook.get", lambda: {"lorebook_id": s["lorebook.create"]["id"]}),
        ("lorebook.list", {}),
        ("lorebook.update", lambda: {"lorebook_id": s["lorebook.create"]["id"], "name": "Lore"}),
        (
            "lorebook.attach",
            lambda: {"lorebook_id": s["lorebook.create"]["id"], "persona_id": "alice"},
        ),
        (
            "lorebook.detach",
            lambda: {"lorebook_id": s["lorebook.create"]["id"], "persona_id": "alice"},
        ),
        ("lorebook.export", lambda: {"lorebook_id": s["lorebook.create"]["id"]}),
        ("lorebook.import", lambda: {"data": s["lorebook.export"]["data"], "name": "Copy"}),
        ("lorebook.delete", lambda: {"lorebook_id": s["lorebook.create"]["id"]}),
        (
            "trigger.create",
            {
                "persona_id": "alice",
                "name": "tide",
                "when": {"keywords": ["tide"]},
                "then": {"instruct": "Talk about the sea.", "action": "wave"},
            },
        ),
        ("trigger.list", {"persona_id": "alice"}),
        ("goal.set", {"persona_id": "alice", "goal": "Mend the nets", "priority": 2}),
        ("goal.list", {"persona_id": "alice"}),
        (
            "conversation.send_message",
            {
                "persona_id": "alice",
                "content": "When is the tide?",
                "sender": "shape-check",
            },
        ),
        ("goal.complete", lambda: {"persona_id": "alice", "goal": s["goal.set"]["id"]}),
        ("trigger.delete", lambda: {"trigger_id": s["trigger.create"]["id"]}),
        ("bot.list", {}),
        ("bot.status", lambda: {"bot_id": s["bot_id"]}),
        ("bot.logs", lambda: {"bot_id": s["bot_id"]}),
        ("bot.start", lambda: {"bot_id": s["bot_id"]}),
        ("bot.restart", lambda: {"bot_id": s["bot_id"]}),
        ("bot.stop", lambda: {"bot_id": s["bot_id"]}),
        ("bot.rooms", lambda: {"bot_id": s["bot_id"]}),
        (
            "bot.room_update",
            lambda: {"bot_id": s["bot_id"], "room_id": ROOM, "answer": "mentions"},
        ),
        ("bot.room_action", lambda: {"bot_id": s["bot_id"], "room_id": ROOM, "action": "leave"}),
        (
            "bot.redact",
            lambda: {"bot_id": s["bot_id"], "room_id": ROOM, "event_id": "$e:localhost"},
        ),
        ("bot.bridge", lambda: {"room_id": s["bridge_room"], "matrix_room_id": ROOM}),
        ("bot.bridges", {}),
        ("bot.unbridge", lambda: {"room_id": s["bridge_room"]}),
        ("tools/list", {}),
        ("tools/call", {"name": "list_personas", "arguments": {}}),
        ("resources/list", {}),
        ("resources/templates/list", {}),
        ("resources/read", {"uri": "persona://alice"}),
        ("prompts/list", {}),
        ("prompts/get", {"name": "speak_as", "arguments": {"persona": "alice"}}),
        ("session.clear", {}),
        ("persona.delete", lambda: {"persona_id": s["persona.create"]["id"]}),
        ("memory.delete", lambda: {"memory_id": s["memory.store"]["id"]}),
    ]


# The fixture bot's room (recorded as the runner would) on a homeserver that is not there: room
# actions and redactions must reach a homeserver, so they answer with its documented error
# (their result shapes are checked against Synapse in tests/bots).
ROOM = "!harbour:localhost"
NEEDS_HOMESERVER = {"bot.room_action": -32061, "bot.redact": -32061}


def _conversation(s: dict) -> str:
    return s["conversation.send_message"]["conversation_id"]


def _methods() -> set[str]:
    return {m.name for m in registry.all() if not m.name.startswith("test.")}


def _mismatch(method, result) -> str | None:
    """Why ``result`` is not exactly its model's shape (``None`` when it is)."""
    model = method.result
    if isinstance(model, dict):  # a plain JSON Schema
        errors = [e.message for e in jsonschema.Draft202012Validator(model).iter_errors(result)]
        return f"does not match its schema: {errors}" if errors else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return f"no result model (registered {model!r})"
    try:
        # Unset optional fields stay absent; fields the model does not declare are dropped,
        # so a result with more (or differently shaped) fields than its model differs.
        shaped = model.model_validate(result).model_dump(mode="json", exclude_unset=True)
    except Exception as exc:  # pydantic's ValidationError, or a result that is not an object
        return f"does not validate against {model.__name__}: {exc}"
    if shaped != result:
        return f"differs from {model.__name__}'s dump at {_first_difference(result, shaped)}"
    return None


def _first_difference(result, shaped, path: str = "result") -> str:
    """Where the dump of a result leaves it (a field the model lacks, or a changed value)."""
    if isinstance(result, dict) and isinstance(shaped, dict):
        for key in result:
            if key not in shaped:
                return f"{path}.{key} (a field the model lacks)"
            if result[key] != shaped[key]:
                return _first_difference(result[key], shaped[key], f"{path}.{key}")
    if isinstance(result, list) and isinstance(shaped, list) and len(result) == len(shaped):
        for i, (a, b) in enumerate(zip(result, shaped, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return f"{path}: {result!r} became {shaped!r}"


def test_every_method_is_called():
    assert _methods() == {name for name, _ in _calls({})}


@pytest.fixture
def bot_id(demo):
    from bots.models import BotRoom
    from bots.services import bot_create

    bot = bot_create(
        persona=demo["pip"],
        homeserver=f"http://127.0.0.1:{closed_port()}",
        user_id="@pip:localhost",
        access_token="syt_not_a_real_token",
    )
    BotRoom.objects.create(bot=bot, room_id=ROOM, name="Harbour", member_count=3, membership="join")
    return str(bot.id)


@pytest.fixture
def bridge_room(demo, bot_id):
    """A room whose only member (pip) has the fixture bot: it can be bridged to ``ROOM``."""
    from rooms.services import room_create

    return str(room_create(name="Bridged", personas=[demo["pip"]]).id)


@pytest.fixture
def offline_llm(settings):
    with FakeLLMServer("ollama", reply="Well met, stranger.", delay=0.0) as server:
        settings.LLM_PROVIDER = "ollama"
        settings.OLLAMA_URL = server.url
        settings.LLM_MODEL = "fake-model"
        yield server


async def test_every_result_is_its_registered_models_shape(
    rpc_connect, akey, bot_id, bridge_room, offline_llm, wait_jobs
):
    key = await akey("admin")
    client = await rpc_connect(token=key)
    state: dict = {"key": key, "bot_id": bot_id, "bridge_room": bridge_room}
    failures = []
    for name, params in _calls(state):
        method = registry.get(name)
        response = await client.call(name, params() if callable(params) else params, timeout=60)
        if name in NEEDS_HOMESERVER:
            if response.get("error", {}).get("code") != NEEDS_HOMESERVER[name]:
                failures.append(f"{name}: expected {NEEDS_HOMESERVER[name]}, got {response}")
            continue
        if "error" in response:
            failures.append(f"{name}: error {response['error']}")
            continue
        state[name] = response["result"]
        problem = _mismatch(method, response["result"])
        if problem:
            failures.append(f"{name}: {problem}")
    await sync_to_async(wait_jobs)()
    assert failures == [], "\n".join(failures)


def test_the_check_names_fields_a_model_lacks_and_fields_a_result_misses():
    ping = registry.get("system.ping")
    assert _mismatch(ping, {"pong": True, "time": "2026-01-01T00:00:00Z"}) is None
    extra = _mismatch(ping, {"pong": True, "time": "t", "uptime": 3})
    assert extra and "result.uptime (a field the model lacks)" in extra
    assert "does not validate" in _mismatch(ping, {"pong": True})
    assert "no result model" in _mismatch(registry.get("test.crash"), {})
    assert "schema" in _mismatch(registry.get("notifications/initialized"), {"x": 1})
