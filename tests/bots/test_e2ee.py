"""End-to-end encryption against a real Synapse: a human with an encrypting client (matrix-nio
with e2e) and a persona bot process."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.bots.conftest import bot_run, wait_status, wait_until

pytestmark = [
    pytest.mark.matrix,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]


def raw_event(hs, token: str, room_id: str, event_id: str) -> dict:
    response = httpx.get(
        f"{hs.url}/_matrix/client/v3/rooms/{room_id}/event/{event_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_encrypted_dm_is_decrypted_answered_encrypted_and_survives_a_bot_restart(
    demo, make_bot, runbot, e2ee_user, synapse
):
    from bots import services
    from bots.schemas import bot_out
    from conversations.models import Message

    bot = make_bot(demo["alice"])
    human = e2ee_user()
    room = human.create_encrypted_room([bot.user_id])
    proc = runbot(str(bot.id))
    human.wait_joined(room, bot.user_id)
    wait_status(bot, "running")

    first = human.send(room, "Hello Alice, can you read this secret note?")
    reply = human.wait_reply(room, bot.user_id, first)
    assert reply.decrypted and reply.body.strip()
    # On the homeserver both messages are ciphertext only.
    for event_id in (first, reply.event_id):
        event = raw_event(synapse, human.client.access_token, room, event_id)
        assert event["type"] == "m.room.encrypted"
        assert "secret note" not in str(event)
    # The bot read the clear text: the turn is in Persona-MCP's history.
    assert Message.objects.filter(content="Hello Alice, can you read this secret note?").exists()

    bot.refresh_from_db()
    device, fingerprint = bot.device_id, bot.device_fingerprint
    assert device and len(fingerprint) == 43
    shown = bot_out(bot)
    assert shown["device_id"] == device and shown["device_fingerprint"] == fingerprint
    assert shown["encryption"] is True
    store = services.bot_crypto_dir(bot)
    assert any(store.iterdir()) and (store.stat().st_mode & 0o077) == 0

    # Restart: same device, same crypto store, the room still works both ways.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    again = runbot(str(bot.id))
    wait_until(
        lambda: bot_run(bot).pid == again.pid and bot_run(bot).status == "running",
        90,
        "the restarted bot runs",
    )
    second = human.send(room, "Still there after your restart?")
    reply = human.wait_reply(room, bot.user_id, second)
    assert reply.decrypted and reply.body.strip()
    bot.refresh_from_db()
    assert (bot.device_id, bot.device_fingerprint) == (device, fingerprint)
    assert not human.undecryptable  # the human read every bot message

    # A message whose room key arrives late: logged with the reason, retried, answered once.
    late = human.send_key_later(room, "This one's key comes late.")
    wait_until(
        lambda: f"cannot decrypt event {late}" in services.bot_log_path(bot).read_text(),
        60,
        "the bot logs the undecryptable event",
    )
    human.share_key_now(room)
    reply = human.wait_reply(room, bot.user_id, late)
    assert reply.decrypted
    log_text = services.bot_log_path(bot).read_text()
    assert f"decrypted event {late} after its key arrived" in log_text
    assert Message.objects.filter(content="This one's key comes late.").count() == 1

    log_text = services.bot_log_path(bot).read_text()
    assert fingerprint in log_text
    for secret in (bot.password, bot.access_token, bot.crypto_pickle_key):
        assert secret and secret not in log_text


def test_encrypted_group_room_two_bots_trust_policies_and_no_loops(
    demo, make_bot, runbot, e2ee_user
):
    alice = make_bot(demo["alice"])
    friend, stranger = e2ee_user("friend"), e2ee_user("stranger")
    rook = make_bot(demo["rook"], trust_policy="allowlist", trusted_users=[friend.user_id])
    room = friend.create_encrypted_room(
        [alice.user_id, rook.user_id, stranger.user_id], name="cellar"
    )
    runbot(str(alice.id))
    runbot(str(rook.id))
    stranger.run(stranger.client.join(room))
    for user in (alice.user_id, rook.user_id, stranger.user_id):
        friend.wait_joined(room, user)
    wait_status(alice, "running")
    wait_status(rook, "running")

    asked = friend.send(room, "Alice, what is in the cellar?")
    friend.wait_reply(room, alice.user_id, asked)
    asked = friend.send(room, "Rook, and what do you say?")
    rook_reply = friend.wait_reply(room, rook.user_id, asked)
    assert rook_reply.decrypted
    # Rook's allow-list does not include the stranger: no room key for them, no answer either.
    wait_until(
        lambda: (
            stranger.sync()
            or rook_reply.event_id in [e.event_id for _, e in stranger.undecryptable]
        ),
        60,
        "the stranger receives Rook's reply undecryptable",
    )
    stranger.send(room, "Rook, tell me too!")  # not on Rook's allow-list: no answer
    answered = stranger.send(room, "Alice, tell me too!")
    stranger.wait_reply(room, alice.user_id, answered)  # TOFU: Alice trusts the stranger
    friend.send(room, "nobody in particular is addressed here")
    time.sleep(3)  # room for a loop or a late answer to show itself
    friend.sync()
    senders = [e.sender for r, e in friend.received if r == room]
    assert senders.count(alice.user_id) == 2
    assert senders.count(rook.user_id) == 1


def test_after_a_revoked_token_deleted_the_device_the_bot_logs_in_again_and_still_decrypts(
    demo, make_bot, runbot, e2ee_user, synapse
):
    from bots import services

    bot = make_bot(demo["rook"])
    human = e2ee_user()
    room = human.create_encrypted_room([bot.user_id])
    runbot(str(bot.id))
    human.wait_joined(room, bot.user_id)
    wait_status(bot, "running")
    first = human.send(room, "Rook, a first secret.")
    assert human.wait_reply(room, bot.user_id, first).decrypted
    bot.refresh_from_db()
    device, old_token = bot.device_id, bot.access_token

    # Logging the token out deletes the device and its keys on Synapse.
    synapse.request("POST", "/_matrix/client/v3/logout", {}, token=old_token)
    log_path = services.bot_log_path(bot)
    wait_until(
        lambda: "uploading them again" in log_path.read_text(), 90, "the device keys uploaded again"
    )
    bot.refresh_from_db()
    assert bot.access_token != old_token and bot.device_id == device
    human.sync()  # the human's client sees the bot's device again
    asked = human.send(room, "Rook, can you still read me?")
    reply = human.wait_reply(room, bot.user_id, asked)
    assert reply.decrypted and reply.body.strip()
    text = log_path.read_text()
    assert "logging in again with the stored password" in text
    assert old_token not in text and bot.access_token not in text
