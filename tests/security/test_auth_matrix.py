"""The auth matrix, generated: every JSON-RPC method of the registry and every endpoint of the
OpenAPI document x no key / bad key / read / write / persona-restricted / admin.

Scope: a call is refused (-32020 unauthenticated, -32021 forbidden; HTTP 401 / 403) exactly
when the caller lacks the scope the method declares, before its params are even looked at.
Personas: a key limited to rook that names alice's persona, memory, conversation, room, bot or
lorebook is refused with -32021 / 403 by every method and endpoint that takes such an id.
"""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)

RANK = {None: 0, "read": 1, "write": 2, "admin": 3}
KINDS = ("none", "bad", "read", "write", "restricted", "admin")
RPC_UNAUTHENTICATED, RPC_FORBIDDEN = -32020, -32021


def _methods():
    from personamcp.rpc.registry import registry

    return [m for m in registry.all() if not m.name.startswith("test.")]


def _alice_world(demo) -> dict:
    """Objects that belong to alice, by the param name that refers to them."""
    from bots.services import bot_create
    from conversations.models import Conversation
    from goals.services import trigger_create
    from lore.services import lorebook_create
    from memory.services import memory_store
    from personamcp.actor import acting
    from rooms import services as rooms

    alice = demo["alice"]
    with acting("command"):
        memory = memory_store(persona=alice, content="alice's secret", importance=0.5)
        room = rooms.room_create(name="alice's room", personas=[alice])
        bot = bot_create(
            persona=alice, homeserver="http://127.0.0.1:1", user_id="@a:localhost", password="pw"
        )
        book = lorebook_create(book={"entries": []}, name="alice's lore", owner=alice)
        trigger = trigger_create(
            persona=alice, name="alice's trigger", when={"keywords": ["gift"]}, then={"say": "Oh!"}
        )
    conversation = Conversation.objects.create(persona=alice, participant="someone")
    return {
        "persona_id": "alice",
        "persona": "alice",
        "memory_id": memory.id,
        "conversation_id": str(conversation.id),
        "room_id": str(room.id),
        "bot_id": str(bot.id),
        "lorebook_id": str(book.id),
        "trigger_id": str(trigger.id),
    }


FILLERS = {
    "content": "hello",
    "query": "harbour",
    "name": "Someone",
    "other_id": "rook",
    "request_id": "r1",
    "interaction_quality": 0.5,
    "topics": ["persona.*"],
    "card": {"spec": "chara_card_v2", "data": {"name": "Card"}},
    "entries": [],
    "data": {"entries": {}},
    "type": "custom",
    "description": "something happens",
    "goal": "win",
    "position": {"x": 0, "y": 0, "z": 0},
    "entity_id": "alice",
    "persona_ids": ["alice"],
    "when": {"event_type": "custom"},
    "then": {"say": "hi"},
}


async def _keys(make_key, demo) -> dict[str, str | None]:
    make = sync_to_async(make_key)
    return {
        "none": None,
        "bad": "pmcp_deadbeef_not-a-real-key",
        "read": await make("read"),
        "write": await make("write"),
        "restricted": await make("admin", [demo["rook"]]),  # every scope, one persona
        "admin": await make("admin"),
    }


class Socket:
    def __init__(self, communicator):
        self.ws, self.n = communicator, 0

    async def call(self, method: str, params: dict) -> dict:
        self.n += 1
        await self.ws.send_to(
            text_data=json.dumps(
                {"jsonrpc": "2.0", "id": self.n, "method": method, "params": params}
            )
        )
        while True:
            message = json.loads(await self.ws.receive_from(timeout=30))
            if message.get("id") == self.n:
                return message


async def _socket(key: str | None) -> Socket:
    from personamcp.asgi import application

    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    communicator = WebsocketCommunicator(application, "/mcp", headers=headers)
    assert (await communicator.connect())[0]
    return Socket(communicator)


def _expected_rpc_refusal(kind: str, method) -> int | None:
    if method.public:
        return None
    if kind in ("none", "bad"):
        return RPC_UNAUTHENTICATED
    rank = {"read": 1, "write": 2, "restricted": 3, "admin": 3}[kind]
    return RPC_FORBIDDEN if rank < RANK[method.scope] else None


async def test_rpc_scope_matrix(demo, make_key):
    keys = await _keys(make_key, demo)
    checked = 0
    wrong = []
    for kind in KINDS:
        socket = await _socket(keys[kind])
        for method in _methods():
            # {} params: the scope is checked before params, so even a method with required
            # params shows whether it let the caller in.
            answer = await socket.call(method.name, {})
            code = answer.get("error", {}).get("code")
            expected = _expected_rpc_refusal(kind, method)
            refused = code in (RPC_UNAUTHENTICATED, RPC_FORBIDDEN)
            if expected is not None and code != expected:
                wrong.append(f"{kind} {method.name}: wanted {expected}, got {answer}")
            if (
                expected is None
                and refused
                and not (kind == "restricted" and code == RPC_FORBIDDEN)
            ):
                wrong.append(f"{kind} {method.name}: wrongly refused {answer}")
            assert code != -32603, answer
            checked += 1
        await socket.ws.disconnect()
    assert wrong == []
    assert checked == len(KINDS) * len(_methods()) and len(_methods()) >= 40


def _params_for(method, world: dict) -> dict | None:
    """Params naming alice's objects that pass the method's schema, or None."""
    from personamcp.exceptions import ValidationFailed
    from personamcp.schemas import validate

    fields = method.params.model_fields
    refs = [name for name in fields if name in world]
    if not refs:
        return None
    params = {name: world[name] for name in refs}
    for name, field in fields.items():
        if name not in params and field.is_required() and name in FILLERS:
            params[name] = FILLERS[name]
    try:
        validate(method.params, params)
    except ValidationFailed:
        return None
    return params


async def test_rpc_persona_restriction_matrix(demo, make_key):
    keys = await _keys(make_key, demo)
    world = await sync_to_async(_alice_world)(demo)
    socket = await _socket(keys["restricted"])
    covered, wrong = [], []
    for method in _methods():
        params = _params_for(method, world)
        if params is None or method.public:
            continue
        answer = await socket.call(method.name, params)
        covered.append(method.name)
        if answer.get("error", {}).get("code") != RPC_FORBIDDEN:
            wrong.append(f"{method.name} {params}: {answer}")
    assert wrong == []
    must_cover = {
        "persona.get", "persona.update", "persona.delete", "persona.state", "persona.export",
        "memory.get", "memory.delete", "memory.search", "memory.store", "memory.list",
        "conversation.history", "conversation.send_message", "room.get", "room.send",
        "bot.status", "bot.start", "bot.stop", "bot.logs", "lorebook.get", "relationship.get",
    }  # fmt: skip
    assert must_cover <= set(covered), must_cover - set(covered)
    # Another persona's lorebook cannot be attached to (or detached from) the key's own.
    for method in ("lorebook.attach", "lorebook.detach"):
        answer = await socket.call(
            method, {"lorebook_id": world["lorebook_id"], "persona_id": "rook"}
        )
        assert answer["error"]["code"] == RPC_FORBIDDEN, answer
    # alice's objects are all still there: refused calls changed nothing
    from memory.models import Memory

    assert await Memory.objects.filter(id=world["memory_id"]).aexists()
    await socket.ws.disconnect()


# --- REST, from the OpenAPI document ---------------------------------------------------------

# A key limited to some personas cannot make new personas (it could not cover them).
RESTRICTED_NO_CREATE = {
    ("post", "/api/personas/"),
    ("post", "/api/personas/import/"),
    ("post", "/api/lorebooks/"),
    ("post", "/api/lorebooks/import/"),
}
PUBLIC_PATHS = re.compile(r"^/api/(schema|docs|redoc)")


def _operations() -> list[tuple[str, str, dict]]:
    """(path, verb, a JSON body built from the operation's request schema) per operation."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema.get("components", {}).get("schemas", {})
    ops = []
    for path, item in schema["paths"].items():
        for verb, op in item.items():
            if verb in ("get", "post", "put", "patch", "delete"):
                ops.append((path, verb, _body(op, components)))
    return ops


def _body(op: dict, components: dict) -> dict:
    """Known properties of the JSON request body; persona references name rook."""
    content = op.get("requestBody", {}).get("content", {})
    body_schema = content.get("application/json", {}).get("schema", {})
    ref = body_schema.get("$ref", "")
    if ref:
        body_schema = components.get(ref.rsplit("/", 1)[-1], {})
    body = {}
    for name in body_schema.get("properties", {}):
        if name in ("persona_id", "persona"):
            body[name] = "rook"
        elif name in FILLERS and name != "persona_ids":
            body[name] = FILLERS[name]
    return body


def _rest_scope(path: str, verb: str) -> str | None:
    if PUBLIC_PATHS.match(path):
        return None
    if path.startswith(("/api/bots/", "/api/bridges/")) and verb != "get":
        return "admin"
    if path.startswith("/api/bots/") and path.endswith("/logs/"):
        return "admin"
    return "read" if verb == "get" else "write"


def _fill(path: str, world: dict) -> str:
    ids = {
        "persona_id": "alice", "memory_id": world["memory_id"],
        "conversation_id": world["conversation_id"], "room_id": world["room_id"],
        "bot_id": world["bot_id"], "lorebook_id": world["lorebook_id"],
        "trigger_id": world["trigger_id"],
    }  # fmt: skip
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), "x")), path)


def test_rest_matrix_from_the_openapi_document(demo, make_key):
    from rest_framework.test import APIClient

    world = _alice_world(demo)
    keys = {
        "none": None,
        "bad": "pmcp_deadbeef_not-a-real-key",
        "read": make_key("read"),
        "write": make_key("write"),
        "restricted": make_key("admin", [demo["rook"]]),
        "admin": make_key("admin"),
    }
    operations = _operations()
    assert len(operations) >= 30
    wrong = []
    for kind, key in keys.items():
        client = APIClient()
        if key:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        for path, verb, request_body in operations:
            scope = _rest_scope(path, verb)
            url = _fill(path, world)
            if verb == "delete" and kind in ("write", "admin") and scope is not None:
                continue  # allowed deletes would remove alice's world; scope checked by others
            # A restricted key sends a body that is valid apart from naming alice's objects
            # (rook is the persona it covers), so the persona check is what must answer.
            body = request_body if kind == "restricted" else {}
            response = getattr(client, verb)(url, body, format="json")
            status = response.status_code
            assert status < 500, (kind, verb, url, response.content[:300])
            if scope is None:
                continue
            rank = {"none": 0, "bad": 0, "read": 1, "write": 2, "restricted": 3, "admin": 3}[kind]
            if kind in ("none", "bad"):
                if status != 401:
                    wrong.append(f"{kind} {verb} {url}: {status}")
            elif rank < RANK[scope]:
                if status != 403:
                    wrong.append(f"{kind} {verb} {url}: {status}")
            elif kind == "restricted" and ("{" in path or (verb, path) in RESTRICTED_NO_CREATE):
                if status != 403:
                    wrong.append(f"restricted {verb} {url}: {status} {response.content[:200]}")
            elif status in (401, 403):
                wrong.append(f"{kind} {verb} {url}: wrongly refused {status}")
    assert wrong == [], "\n".join(wrong)
