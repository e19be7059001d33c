"""Room management against a real Synapse: the bot's rooms and invites as the runner sees them,
accept / reject / leave, per-room answer settings, redaction, threads and Markdown replies."""

from __future__ import annotations

import json
import time

import pytest

from bots.runner import reply_content
from tests.bots.conftest import wait_status, wait_until

pytestmark = [
    pytest.mark.matrix,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]


class Event:
    """A received message, shaped like nio's (what ``reply_content`` reads)."""

    def __init__(self, event_id: str, content: dict):
        self.event_id = event_id
        self.source = {"content": content}


def test_markdown_becomes_formatted_body_and_plain_text_stays_plain():
    plain = reply_content('Just "words" here.', Event("$a", {}), first=True)
    assert "formatted_body" not in plain
    assert plain["m.relates_to"] == {"m.in_reply_to": {"event_id": "$a"}}
    rich = reply_content("Some **bold** and a list:\n\n- one\n- two", Event("$b", {}), first=False)
    assert rich["format"] == "org.matrix.custom.html"
    assert (
        "<strong>bold</strong>" in rich["formatted_body"]
        and "<li>one</li>" in rich["formatted_body"]
    )
    assert "m.relates_to" not in rich  # only the first part is a reply
    unsafe = reply_content("<script>alert(1)</script> *x*", Event("$c", {}), first=False)
    assert "<script>" not in unsafe["formatted_body"]


def test_a_reply_to_a_threaded_message_stays_in_the_thread():
    threaded = Event("$child", {"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}})
    for first in (True, False):
        relates = reply_content("answer", threaded, first=first)["m.relates_to"]
        assert relates["rel_type"] == "m.thread" and relates["event_id"] == "$root"
        assert relates["m.in_reply_to"] == {"event_id": "$child"}


def _rooms(rest, bot) -> dict:
    response = rest.get(f"/api/bots/{bot.id}/rooms/")
    assert response.status_code == 200, response.content
    return {r["room_id"]: r for r in response.json()["rooms"]}


def test_invites_wait_for_the_operator_rooms_are_listed_and_settings_apply(
    demo, make_bot, runbot, matrix_user, api_as, make_key, client
):
    bot = make_bot(demo["alice"], invite_policy="manual")
    human = matrix_user()
    rest = api_as("admin")
    hall = human.create_room([bot.user_id], name="hall")
    cave = human.create_room([bot.user_id], name="cave")
    runbot(str(bot.id))
    wait_status(bot, "running")
    wait_until(lambda: set(_rooms(rest, bot)) == {hall, cave}, 60, "both invites listed")
    rooms = _rooms(rest, bot)
    assert rooms[hall]["membership"] == "invite" and rooms[hall]["inviter"] == human.user_id
    assert bot.user_id not in human.joined(hall)  # nobody accepted yet

    accepted = rest.post(f"/api/bots/{bot.id}/rooms/{hall}/accept/")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["membership"] == "join"
    rejected = rest.post(f"/api/bots/{bot.id}/rooms/{cave}/reject/")
    assert rejected.json() == {
        "bot_id": str(bot.id),
        "room_id": cave,
        "membership": "leave",
        "room": None,
    }
    human.wait_joined(hall, bot.user_id)
    wait_until(
        lambda: set(_rooms(rest, bot)) == {hall} and _rooms(rest, bot)[hall]["name"] == "hall",
        60,
        "the runner saw the join",
    )
    room = _rooms(rest, bot)[hall]
    assert room["member_count"] == 2 and room["encrypted"] is False and room["answer"] == "auto"

    # Per-room setting: never answer here (read by the runner at its next heartbeat).
    patched = rest.patch(f"/api/bots/{bot.id}/rooms/{hall}/", {"answer": "never"}, format="json")
    assert patched.status_code == 200 and patched.json()["answer"] == "never"
    time.sleep(2)
    quiet = human.send(hall, "Are you there?")
    time.sleep(4)  # room for a wrong answer to show itself
    assert [e for e in human.messages(hall) if e["sender"] == bot.user_id] == []

    # Over RPC, the same settings; then an answer to a message in a thread, in the thread.
    key = make_key("admin")
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "bot.room_update",
        "params": {"bot_id": str(bot.id), "room_id": hall, "answer": "all"},
    }
    rpc = client.post(
        "/mcp",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()
    assert rpc["result"]["answer"] == "all", rpc
    time.sleep(2)
    txn = f"/rooms/{hall}/send/m.room.message/thread-{time.monotonic_ns()}"
    threaded = human.call(
        "PUT",
        txn,
        json={
            "msgtype": "m.text",
            "body": "In the thread: how are you?",
            "m.relates_to": {"rel_type": "m.thread", "event_id": quiet},
        },
    )["event_id"]
    reply = human.wait_reply(hall, bot.user_id, threaded)
    relates = reply["content"]["m.relates_to"]
    assert relates["rel_type"] == "m.thread" and relates["event_id"] == quiet

    # The bot redacts its own message, never someone else's.
    redacted = rest.post(
        f"/api/bots/{bot.id}/rooms/{hall}/redact/", {"event_id": reply["event_id"]}, format="json"
    )
    assert redacted.status_code == 200, redacted.content
    event = human.call("GET", f"/rooms/{hall}/event/{reply['event_id']}")
    assert event["content"] == {}
    refused = rest.post(
        f"/api/bots/{bot.id}/rooms/{hall}/redact/", {"event_id": quiet}, format="json"
    )
    assert refused.status_code == 403

    left = rest.post(f"/api/bots/{bot.id}/rooms/{hall}/leave/")
    assert left.json()["membership"] == "leave"
    wait_until(lambda: bot.user_id not in human.joined(hall), 30, "the bot left")
    missing = rest.post(f"/api/bots/{bot.id}/rooms/!nope:localhost/join/")
    assert missing.status_code == 502 and missing.json()["error"]["code"] == -32061
