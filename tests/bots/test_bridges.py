"""Bridged rooms: a Persona-MCP room linked to a Matrix room.

The front doors (REST, JSON-RPC, admin) without a homeserver; then the whole bridge against the
real Synapse with one bot process per member persona: the room's policy decides who answers a
Matrix message (once, whichever bot saw it first), the bots never answer one another, the room
keeps the one history, and lines said over the web API reach Matrix by the speaking persona's
bot.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.bots.conftest import mcp_call, wait_status, wait_until

MATRIX_ROOM = "!bridged:localhost"


def _room(demo, *slugs: str, policy: str = "natural"):
    from rooms import services as room_services

    return room_services.room_create(
        name="The Tavern", personas=[demo[s] for s in slugs], policy=policy
    )


def _bot(demo, slug: str, user: str | None = None):
    from bots import services

    return services.bot_create(
        persona=demo[slug],
        homeserver="http://127.0.0.1:9",
        user_id=user or f"@{slug}-bridge:localhost",
        password="pw-bridge-front-door",
    )


@pytest.mark.django_db(transaction=True)  # /mcp answers from another thread
def test_bridge_front_doors_validate_share_one_shape_and_respect_key_scope(
    demo, api_as, make_key, client, django_user_model
):
    from bots.models import RoomBridge
    from bots.schemas import BridgeDeletedOut, BridgeListOut, BridgeOut

    room = _room(demo, "alice", "rook")
    admin = api_as("admin")
    url = f"/api/bridges/{room.id}/"

    # Every member needs a bot; the error names the personas, and nothing is stored.
    _bot(demo, "alice")
    missing = admin.put(url, {"matrix_room_id": MATRIX_ROOM}, format="json").json()["error"]
    assert missing["code"] == -32602
    assert any(
        e["field"] == "room_id" and "rook" in e["message"] and "alice" not in e["message"]
        for e in missing["data"]["errors"]
    )
    assert not RoomBridge.objects.exists()
    rook_bot = _bot(demo, "rook")

    bad = admin.put(url, {"matrix_room_id": "#alias:localhost"}, format="json").json()["error"]
    assert bad["code"] == -32602 and "matrix_room_id" in json.dumps(bad["data"])
    rpc_bad = mcp_call(
        client,
        make_key("admin"),
        "bot.bridge",
        {"room_id": str(room.id), "matrix_room_id": "no spaces allowed"},
    )
    assert rpc_bad["error"]["code"] == -32602 and "matrix_room_id" in json.dumps(rpc_bad["error"])
    assert not RoomBridge.objects.exists()

    # A key that does not cover every member may not bridge (nor see) the room.
    narrow = api_as("admin", personas=[str(demo["alice"].id)])
    assert narrow.put(url, {"matrix_room_id": MATRIX_ROOM}, format="json").status_code == 403
    assert not RoomBridge.objects.exists()
    # A read key may not write.
    assert (
        api_as("read").put(url, {"matrix_room_id": MATRIX_ROOM}, format="json").status_code == 403
    )

    made = admin.put(url, {"matrix_room_id": MATRIX_ROOM}, format="json")
    assert made.status_code == 200, made.content
    data = BridgeOut.model_validate(made.json()).model_dump(mode="json")
    assert data == made.json()
    assert data["room_id"] == str(room.id) and data["matrix_room_id"] == MATRIX_ROOM
    assert data["state"] == "active" and data["messages_fed"] == 0
    assert [(b["persona_slug"], b["joined"]) for b in data["bots"]] == [
        ("alice", False),
        ("rook", False),
    ]
    assert data["bots"][1]["bot_id"] == str(rook_bot.id)
    assert "pw-bridge-front-door" not in made.content.decode()

    # The same bridge over JSON-RPC and REST: the same JSON.
    key = make_key("admin")
    listed = mcp_call(client, key, "bot.bridges", {})["result"]
    BridgeListOut.model_validate(listed)
    assert listed == admin.get("/api/bridges/").json()
    assert listed["bridges"] == [admin.get(url).json()]
    assert narrow.get("/api/bridges/").json()["bridges"] == []  # rook is not covered

    paused = mcp_call(
        client,
        key,
        "bot.bridge",
        {"room_id": str(room.id), "matrix_room_id": MATRIX_ROOM, "state": "paused"},
    )["result"]
    assert paused["state"] == "paused" and paused["id"] == data["id"]

    # One Matrix room, one bridge.
    other = _room(demo, "alice")
    taken = admin.put(
        f"/api/bridges/{other.id}/", {"matrix_room_id": MATRIX_ROOM}, format="json"
    ).json()
    assert taken["error"]["code"] == -32602 and str(room.id) in json.dumps(taken["error"])

    # The admin lists the bridge with its bots.
    staff = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-1")
    client.force_login(staff)
    page = client.get("/admin/bots/roombridge/").content.decode()
    assert MATRIX_ROOM in page and "rook: @rook-bridge:localhost (not in)" in page
    assert client.get("/admin/bots/outboxmessage/").status_code == 200

    gone = mcp_call(client, key, "bot.unbridge", {"room_id": str(room.id)})["result"]
    BridgeDeletedOut.model_validate(gone)
    assert gone == {"deleted": True, "room_id": str(room.id), "matrix_room_id": MATRIX_ROOM}
    assert admin.get(url).json()["error"]["code"] == -32007
    assert admin.delete(url).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_lines_of_a_bridged_room_queue_one_outbox_message_per_line_by_the_speaker(demo):
    """Without a homeserver: what a web or /mcp ``room.send`` leaves in the bots' outboxes."""
    from bots import bridges
    from bots.models import OutboxMessage
    from rooms import services as room_services

    room = _room(demo, "alice", "rook")
    alice, rook = _bot(demo, "alice"), _bot(demo, "rook")
    bridges.bridge_set(room=room, matrix_room_id=MATRIX_ROOM)
    result = room_services.room_send(
        room=room, content="Rook, what news?", sender="web:ann", sender_name="Ann"
    )
    assert [r["persona_slug"] for r in result["replies"]] == ["rook"]
    rows = list(OutboxMessage.objects.order_by("id"))
    # Ann's line is relayed by the room's first bot, Rook's reply is posted by Rook's bot.
    assert [(r.bot_id, r.line_id) for r in rows] == [
        (alice.id, result["line_id"]),
        (rook.id, result["replies"][0]["line_id"]),
    ]
    assert rows[0].content["body"] == "Ann: Rook, what news?"
    assert rows[1].content["body"] == result["replies"][0]["response"].strip()
    assert {r.room_id for r in rows} == {MATRIX_ROOM} and len({r.txn_id for r in rows}) == 2
    assert all(r.status == "pending" for r in rows)

    # Paused: nothing more is posted.
    bridges.bridge_set(room=room, matrix_room_id=MATRIX_ROOM, state="paused")
    room_services.room_send(room=room, content="Alice?", sender="web:ann", sender_name="Ann")
    assert OutboxMessage.objects.count() == 2


@pytest.mark.matrix
@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_a_bridged_room_in_matrix_answers_by_policy_once_without_loops_and_relays_web_lines(
    demo, make_bot, runbot, matrix_user, api_as
):
    from bots.models import BridgedEvent, OutboxMessage
    from rooms.models import RoomMessage

    room = _room(demo, "alice", "rook")
    bots = {"alice": make_bot(demo["alice"]), "rook": make_bot(demo["rook"])}
    by_user = {b.user_id: slug for slug, b in bots.items()}
    human = matrix_user()
    matrix_room = human.create_room([b.user_id for b in bots.values()], name="bridged tavern")
    admin = api_as("admin")
    made = admin.put(f"/api/bridges/{room.id}/", {"matrix_room_id": matrix_room}, format="json")
    assert made.status_code == 200, made.content
    for bot in bots.values():
        runbot(str(bot.id))
    for bot in bots.values():
        human.wait_joined(matrix_room, bot.user_id, timeout=90)
        wait_status(bot, "running")

    def bot_messages_after(event_id: str) -> list[dict]:
        events = human.messages(matrix_room)
        ids = [e["event_id"] for e in events]
        return [e for e in events[ids.index(event_id) + 1 :] if e["sender"] in by_user]

    def lines() -> list[RoomMessage]:
        return list(RoomMessage.objects.filter(room=room).order_by("id"))

    # Unaddressed: exactly one persona answers (natural), as its own bot, and only once.
    hello = human.send(matrix_room, "Good evening to this fine house.")
    wait_until(lambda: bot_messages_after(hello), 90, "one answer")
    time.sleep(4)  # room for a second answer or a loop to show itself
    answers = bot_messages_after(hello)
    assert len(answers) == 1, answers
    said = lines()
    assert [(line.speaker_kind, line.speaker_id) for line in said[:1]] == [
        ("participant", human.user_id)
    ]
    assert said[0].content == "Good evening to this fine house."
    assert len(said) == 2 and said[1].persona.slug == by_user[answers[0]["sender"]]
    assert answers[0]["content"]["body"] == said[1].content.strip()
    assert answers[0]["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == hello

    # Addressed: both answer, each as its own bot.
    both = human.send(matrix_room, "Alice and Rook, what do you both make of the storm?")
    wait_until(lambda: len(bot_messages_after(both)) >= 2, 120, "two answers")
    time.sleep(4)
    answers = bot_messages_after(both)
    assert sorted(by_user[a["sender"]] for a in answers) == ["alice", "rook"]
    assert len(lines()) == 5
    # Each Matrix message was fed once, whichever bot claimed it.
    assert sorted(BridgedEvent.objects.values_list("event_id", flat=True)) == sorted([hello, both])

    # A line said over the web API: relayed to Matrix, and the persona's reply by its bot.
    sent = admin.post(
        f"/api/rooms/{room.id}/messages/",
        {"content": "Rook, the web asks about the harbour.", "sender_name": "Ann"},
        format="json",
    )
    assert sent.status_code == 200, sent.content
    reply = sent.json()["replies"]
    assert [r["persona_slug"] for r in reply] == ["rook"]

    def web_lines_arrived() -> bool:
        bodies = [(by_user[e["sender"]], e["content"]["body"]) for e in bot_messages_after(both)]
        return ("alice", "Ann: Rook, the web asks about the harbour.") in bodies and (
            "rook",
            reply[0]["response"].strip(),
        ) in bodies

    wait_until(web_lines_arrived, 60, "the web lines in Matrix")
    time.sleep(4)  # the relayed line comes from a bot: nobody answers it
    total = [e for e in human.messages(matrix_room) if e["sender"] in by_user]
    assert len(total) == 1 + 2 + 2
    assert len(lines()) == 7
    assert BridgedEvent.objects.count() == 2
    assert not OutboxMessage.objects.exclude(status="sent").exists()
    bridge = admin.get(f"/api/bridges/{room.id}/").json()
    assert bridge["messages_fed"] == 2 and bridge["pending_posts"] == 0
    assert all(b["joined"] for b in bridge["bots"])


@pytest.mark.matrix
@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_an_encrypted_bridged_room_answers_once_and_posts_web_lines_encrypted(
    demo, make_bot, runbot, e2ee_user, api_as
):
    from bots import bridges

    room = _room(demo, "alice", "rook")
    bots = {"alice": make_bot(demo["alice"]), "rook": make_bot(demo["rook"])}
    by_user = {b.user_id: slug for slug, b in bots.items()}
    human = e2ee_user()
    matrix_room = human.create_encrypted_room(list(by_user), name="sealed tavern")
    bridges.bridge_set(room=room, matrix_room_id=matrix_room)
    for bot in bots.values():
        runbot(str(bot.id))
    for bot in bots.values():
        human.wait_joined(matrix_room, bot.user_id)
        wait_status(bot, "running")

    def from_bots() -> list:
        human.sync()
        return [e for r, e in human.received if r == matrix_room and e.sender in by_user]

    hello = human.send(matrix_room, "A quiet evening, is it not?")
    wait_until(lambda: from_bots(), 120, "one decrypted answer", interval=0.3)
    time.sleep(4)
    answers = from_bots()
    assert len(answers) == 1 and answers[0].body.strip()
    assert answers[0].source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == hello

    sent = api_as("admin").post(
        f"/api/rooms/{room.id}/messages/",
        {"content": "Rook, the web whispers.", "sender_name": "Ann"},
        format="json",
    )
    assert sent.status_code == 200, sent.content
    rook_says = sent.json()["replies"][0]["response"].strip()

    def arrived() -> bool:
        bodies = [(by_user[e.sender], e.body) for e in from_bots()]
        return ("alice", "Ann: Rook, the web whispers.") in bodies and ("rook", rook_says) in bodies

    wait_until(arrived, 90, "the web lines, decrypted", interval=0.3)
    time.sleep(3)
    assert len(from_bots()) == 3  # no answer to the bots' own lines
