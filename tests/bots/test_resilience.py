"""A bot against a homeserver that goes away and one that rate-limits, and what a human's
client reads of its replies (Markdown ``formatted_body``, threads, replies), all against real
Synapse processes. The LLM is a fake Ollama at the wire (``bot_llm``)."""

from __future__ import annotations

import time

import pytest

from tests.bots.conftest import wait_status, wait_until

pytestmark = [pytest.mark.matrix, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def _asks(body: dict, text: str) -> bool:
    """Whether an LLM request is the chat turn answering ``text`` (not the after-turn work of
    an earlier turn, such as its importance question, which must not take the hold)."""
    return bool(body.get("messages")) and text in body["messages"][-1].get("content", "")


def _bot_bodies(human, room: str, bot) -> list[str]:
    return [e["content"]["body"] for e in human.messages(room) if e["sender"] == bot.user_id]


def test_a_reply_made_while_the_homeserver_is_down_is_sent_once_when_it_is_back(
    demo, own_synapse, make_bot, runbot, matrix_user, bot_llm
):
    from bots import services
    from bots.models import OutboxMessage

    hs = own_synapse()
    fake, env = bot_llm
    fake.reply = "Good day to you."
    bot = make_bot(demo["alice"], hs=hs)
    human = matrix_user(hs=hs)
    room = human.create_room([bot.user_id])
    runbot(str(bot.id), env=env)
    human.wait_joined(room, bot.user_id, timeout=90)
    wait_status(bot, "running")
    first = human.send(room, "Hello Alice!")
    assert human.wait_reply(room, bot.user_id, first)["content"]["body"] == "Good day to you."

    # The next answer is produced while the homeserver is down.
    fake.reply = "The tide turns at noon, they say."
    fake.mode = "hold"
    fake.hold_when = lambda body: _asks(body, "when does the tide turn?")
    asked = human.send(room, "Alice, when does the tide turn?")
    assert fake.held.wait(60), "the bot never asked the LLM"
    hs.down()
    fake.gate.set()
    wait_until(
        lambda: OutboxMessage.objects.filter(bot=bot, attempts__gte=2, status="pending").exists(),
        90,
        "failed tries to send while the homeserver is down",
    )
    row = OutboxMessage.objects.get(bot=bot, status="pending")
    assert "unreachable" in row.last_error and row.content["body"] == fake.reply
    hs.up()
    answer = human.wait_reply(room, bot.user_id, asked, timeout=120)
    assert answer["content"]["body"] == "The tide turns at noon, they say."
    row.refresh_from_db()
    assert row.status == "sent" and row.event_id == answer["event_id"] and row.attempts >= 3

    # The conversation goes on (the sync loop recovered), and nothing was lost or doubled.
    fake.mode, fake.reply = "ok", "Still here, still listening."
    later = human.send(room, "Alice, are you still there?")
    human.wait_reply(room, bot.user_id, later, timeout=90)
    time.sleep(2)
    assert _bot_bodies(human, room, bot) == [
        "Good day to you.",
        "The tide turns at noon, they say.",
        "Still here, still listening.",
    ]
    log_text = services.bot_log_path(bot).read_text()
    assert "homeserver unreachable" in log_text and "sync works again" in log_text


def test_a_reply_queued_by_a_bot_killed_while_the_homeserver_was_down_is_sent_by_its_next_run(
    demo, own_synapse, make_bot, runbot, matrix_user, bot_llm
):
    from bots.models import OutboxMessage

    hs = own_synapse()
    fake, env = bot_llm
    fake.reply, fake.mode = "Kept safe in the outbox.", "hold"
    fake.hold_when = lambda body: _asks(body, "tell me something.")
    bot = make_bot(demo["elias"], hs=hs)
    human = matrix_user(hs=hs)
    room = human.create_room([bot.user_id])
    proc = runbot(str(bot.id), env=env)
    human.wait_joined(room, bot.user_id, timeout=90)
    wait_status(bot, "running")
    asked = human.send(room, "Elias, tell me something.")
    assert fake.held.wait(60), "the bot never asked the LLM"
    hs.down()
    fake.gate.set()
    wait_until(
        lambda: OutboxMessage.objects.filter(bot=bot, attempts__gte=1, status="pending").exists(),
        90,
        "a failed try while the homeserver is down",
    )
    proc.kill()  # SIGKILL: no last flush, the reply is only in the outbox
    proc.wait()
    hs.up()
    runbot(str(bot.id), env=env)
    answer = human.wait_reply(room, bot.user_id, asked, timeout=120)
    assert answer["content"]["body"] == "Kept safe in the outbox."
    time.sleep(2)
    assert _bot_bodies(human, room, bot) == ["Kept safe in the outbox."]
    row = OutboxMessage.objects.get(bot=bot)
    assert row.status == "sent" and row.event_id == answer["event_id"]


def test_429s_of_a_tight_message_rate_limit_are_waited_out_with_retry_after_ms(
    demo, own_synapse, make_bot, runbot, matrix_user, bot_llm
):
    from bots import services
    from bots.models import OutboxMessage

    # One message per 5 s for everyone but the human.
    hs = own_synapse(rc_message={"per_second": 0.2, "burst_count": 1})
    fake, env = bot_llm
    fake.reply = "Noted, friend."
    bot = make_bot(demo["rook"], hs=hs)
    human = matrix_user(hs=hs)
    hs.unlimit(human.user_id)
    room = human.create_room([bot.user_id])
    runbot(str(bot.id), env=env)
    human.wait_joined(room, bot.user_id, timeout=90)
    wait_status(bot, "running")

    asked = [human.send(room, f"Question number {n}, Rook?") for n in range(3)]
    replies = {}
    for event_id in asked:
        reply = human.wait_reply(room, bot.user_id, event_id, timeout=120)
        replies[reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]] = reply

    def all_answered() -> bool:
        events = [e for e in human.messages(room) if e["sender"] == bot.user_id]
        return len(events) >= 3

    wait_until(all_answered, 120, "three replies")
    time.sleep(2)
    mine = [e for e in human.messages(room) if e["sender"] == bot.user_id]
    assert sorted(
        e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] for e in mine
    ) == sorted(asked)  # each question answered once: none lost, none doubled
    stamps = sorted(e["origin_server_ts"] for e in mine)
    # The homeserver let one message through per 5 s: the bot waited as it was told.
    assert stamps[2] - stamps[0] >= 2 * 4000, stamps
    rows = list(OutboxMessage.objects.filter(bot=bot))
    assert len(rows) == 3 and all(r.status == "sent" for r in rows)
    assert sorted(r.event_id for r in rows) == sorted(e["event_id"] for e in mine)
    log_text = services.bot_log_path(bot).read_text()
    # The joins and sends that met the limit waited as asked (once per 429), then went on.
    assert "rate limited (M_LIMIT_EXCEEDED, retry_after_ms" in log_text
    assert "RoomSend waits as asked" in log_text


def test_a_human_client_reads_markdown_as_formatted_body_and_thread_and_reply_relations(
    demo, make_bot, runbot, matrix_user, bot_llm
):
    fake, env = bot_llm
    fake.reply = "Just plain words here."
    bot = make_bot(demo["pip"])
    human = matrix_user()
    room = human.create_room([bot.user_id])
    runbot(str(bot.id), env=env)
    human.wait_joined(room, bot.user_id, timeout=90)
    wait_status(bot, "running")

    root = human.send(room, "Pip, a question to start a thread.")
    plain = human.wait_reply(room, bot.user_id, root)["content"]
    assert plain["body"] == "Just plain words here."
    assert "formatted_body" not in plain and "format" not in plain
    assert plain["m.relates_to"] == {"m.in_reply_to": {"event_id": root}}

    fake.reply = "Here is **bold** and a list:\n\n- one\n- two"
    threaded = human.send(
        room,
        "Pip, go on in the thread.",
        **{
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": root},
            }
        },
    )
    rich = human.wait_reply(room, bot.user_id, threaded)["content"]
    assert rich["body"] == "Here is **bold** and a list:\n\n- one\n- two"
    assert rich["format"] == "org.matrix.custom.html"
    assert "<strong>bold</strong>" in rich["formatted_body"]
    assert "<li>one</li>" in rich["formatted_body"] and "<ul>" in rich["formatted_body"]
    assert rich["m.relates_to"]["rel_type"] == "m.thread"
    assert rich["m.relates_to"]["event_id"] == root
    assert rich["m.relates_to"]["m.in_reply_to"] == {"event_id": threaded}
    # The thread's own view on the homeserver holds the reply.
    relations = human.http.get(f"/_matrix/client/v1/rooms/{room}/relations/{root}/m.thread")
    assert relations.status_code == 200, relations.text
    thread = relations.json()["chunk"]
    assert any(e["sender"] == bot.user_id for e in thread)
