"""conversation.list, room.list and relationship.list page like every list (personamcp.pagination):
a restricted key gets full pages, a cursor continues where the page ended, the last page has
no cursor, and a cursor that is not ours is -32602 naming ``cursor`` — on RPC and REST alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation
from personas.models import Persona, Relationship
from personas.services import persona_create
from rooms.services import room_create

pytestmark = pytest.mark.django_db(transaction=True)  # POST /mcp reads the key on another thread


@pytest.fixture
def world(db):
    """Six personas; the key sees two of them. Conversations (some never active), rooms and
    relationships (some never interacted) of every persona, at distinct times."""
    personas = [persona_create(name=f"Lister {i}") for i in range(6)]
    allowed = personas[1:3]
    now = timezone.now()
    for i in range(24):
        persona = personas[i % 6]
        conversation = Conversation.objects.create(persona=persona, participant=f"user:{i}")
        active = None if i % 4 == 0 else now - timedelta(minutes=i)
        Conversation.objects.filter(pk=conversation.pk).update(
            started_at=now - timedelta(hours=1, minutes=i), last_message_at=active
        )
    for i in range(12):
        room_create(name=f"Room {i}", personas=[personas[i % 6]])
    for i in range(7):
        Relationship.objects.create(
            persona=allowed[0],
            other_id=f"user:{i}",
            other_kind="participant",
            last_interaction_at=None if i % 3 == 0 else now - timedelta(minutes=i),
        )
    return personas, allowed


def _expected_conversations(allowed: list[Persona]) -> list[str]:
    rows = Conversation.objects.filter(persona__in=allowed)
    key = [(c.last_message_at or c.started_at, c.id) for c in rows]
    return [str(pk) for _, pk in sorted(key, reverse=True)]


def _walk(fetch, items: str) -> list[list[str]]:
    """The ids of every page, following ``next_cursor`` until it is null."""
    pages, cursor = [], None
    while True:
        body = fetch(cursor)
        pages.append([item.get("id") or item.get("other_id") for item in body[items]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor does not move on"


def _rest(client, url: str):
    def fetch(cursor):
        sep = "&" if "?" in url else "?"
        response = client.get(url + (f"{sep}cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.content
        return response.json()

    return fetch


def _rpc(client, method: str, params: dict):
    def fetch(cursor):
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": dict(params)}
        if cursor:
            body["params"]["cursor"] = cursor
        response = client.post("/mcp", body, format="json")
        data = response.json()
        assert "result" in data, data
        return data["result"]

    return fetch


def _fetch(client, door: str, url: str, method: str, params: dict):
    return _rest(client, url) if door == "rest" else _rpc(client, method, params)


def _check(pages: list[list[str]], expected: list[str], size: int) -> None:
    assert [len(p) for p in pages[:-1]] == [size] * (len(pages) - 1)  # every page but the last full
    assert 0 < len(pages[-1]) <= size
    assert [i for page in pages for i in page] == expected


@pytest.mark.parametrize("door", ["rest", "rpc"])
def test_restricted_key_pages_conversations_fully_most_recently_active_first(api_as, world, door):
    _, allowed = world
    client = api_as("read", allowed)
    fetch = _fetch(client, door, "/api/conversations/?limit=3", "conversation.list", {"limit": 3})
    expected = _expected_conversations(allowed)
    assert len(expected) == 8
    _check(_walk(fetch, "conversations"), expected, 3)


@pytest.mark.parametrize("door", ["rest", "rpc"])
def test_restricted_key_pages_rooms_fully_newest_first(api_as, world, door):
    _, allowed = world
    client = api_as("read", allowed)
    pages = _walk(_fetch(client, door, "/api/rooms/?limit=3", "room.list", {"limit": 3}), "rooms")
    from rooms.models import Room

    rooms = Room.objects.filter(memberships__persona__in=allowed).order_by("-created_at", "-id")
    _check(pages, [str(r.id) for r in rooms], 3)
    assert len(rooms) == 4


@pytest.mark.parametrize("door", ["rest", "rpc"])
def test_relationships_page_most_recent_interaction_first(api_as, world, door):
    _, allowed = world
    persona = allowed[0]
    client = api_as("read", allowed)
    url = f"/api/personas/{persona.id}/relationships/?limit=2"
    params = {"persona_id": str(persona.id), "limit": 2}
    fetch = _fetch(client, door, url, "relationship.list", params)
    rows = Relationship.objects.filter(persona=persona)
    expected = [
        r.other_id
        for r in sorted(rows, key=lambda r: (r.last_interaction_at or r.created_at, r.id))[::-1]
    ]
    _check(_walk(fetch, "relationships"), expected, 2)


def test_a_page_that_ends_the_list_has_no_cursor(api_as, world):
    _, allowed = world
    client = api_as("read", allowed)
    body = client.get("/api/conversations/?limit=8").json()
    assert len(body["conversations"]) == 8 and body["next_cursor"] is None
    body = client.get("/api/rooms/?limit=4").json()
    assert len(body["rooms"]) == 4 and body["next_cursor"] is None
    body = client.get(f"/api/relationships/?persona={allowed[0].id}&limit=7").json()
    assert len(body["relationships"]) == 7 and body["next_cursor"] is None


@pytest.mark.parametrize(
    "method, params",
    [
        ("conversation.list", {}),
        ("room.list", {}),
        ("relationship.list", {"persona_id": "lister-1"}),
    ],
)
@pytest.mark.parametrize("cursor", ["not-a-cursor", "WyJ4IiwiMSJd", "W251bGwsIjEiXQ"])
def test_a_cursor_that_is_not_ours_is_32602_naming_cursor(rpc_http, world, method, params, cursor):
    # "WyJ4IiwiMSJd" is ["x","1"] (not a time); "W251bGwsIjEiXQ" is [null,"1"]
    body = rpc_http(method, {**params, "cursor": cursor})
    assert body["error"]["code"] == -32602, body
    assert [e["field"] for e in body["error"]["data"]["errors"]] == ["cursor"]


@pytest.mark.parametrize(
    "url",
    ["/api/conversations/", "/api/rooms/", "/api/personas/lister-1/relationships/"],
)
def test_a_bad_cursor_over_rest_is_400_naming_cursor(api_as, world, url):
    response = api_as("read").get(url + "?cursor=WyJ4IiwiMSJd")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["error"]["data"]["errors"]] == ["cursor"]
