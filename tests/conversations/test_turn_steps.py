"""The named steps of a turn, each on its own, and the recovery of turns whose process died."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services, turn
from conversations.models import Conversation, Message
from personamcp import locks
from personamcp.exceptions import Busy, ValidationFailed

pytestmark = pytest.mark.django_db(transaction=True)


def new_turn(persona, content="Good evening, Alice. Any stew left?", **options) -> turn.Turn:
    request = turn.TurnRequest(persona=persona, content=content, sender="player-9", **options)
    conversation = services.conversation_get_or_start(persona=persona, participant="player-9")
    return turn.Turn(request=request, conversation=conversation)


def dead_owner() -> str:
    """The owner string of a process of this host that has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    start = locks._start_time(proc.pid)
    proc.kill()
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:{start}"


def pending_message(conversation, *, owner: str, lease_until=None) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.USER,
        speaker="Mara",
        content="are you there?",
        status=Message.Status.PENDING,
        owner=owner,
        lease_until=lease_until or timezone.now() + timedelta(minutes=5),
    )


def test_request_validates_the_content_once(demo):
    with pytest.raises(ValidationFailed):
        turn.TurnRequest(persona=demo["alice"], content="   ", sender="x")
    with pytest.raises(TypeError):  # an unknown option is an error, not silently dropped
        turn.TurnRequest(persona=demo["alice"], content="hi", sender="x", colour="red")


def test_prepare_turn_stores_the_user_message_first_as_pending(demo):
    state = new_turn(demo["alice"])
    turn.prepare_turn(state)
    stored = Message.objects.get(pk=state.user_message.pk)
    assert stored.status == "pending" and stored.role == "user"
    assert stored.owner == locks.process_owner() and stored.lease_until > timezone.now()
    assert Conversation.objects.get(pk=state.conversation.pk).message_count == 1
    assert state.state is not None and state.relationship.stage == "stranger"


def test_build_prompt_leaves_out_the_turns_own_and_pending_messages(demo):
    earlier = new_turn(demo["alice"], content="first words")
    for step in turn.TURN_STEPS:
        step(earlier)
    state = new_turn(demo["alice"], content="second words")
    turn.prepare_turn(state)
    turn.build_prompt(state)
    texts = [m["content"] for m in state.prompt.messages]
    assert texts[-1].endswith("second words")
    assert sum("second words" in t for t in texts) == 1  # not also as history
    assert any("first words" in t for t in texts[:-1])
    assert state.hints["first_turn"] is False


def test_generate_records_a_backend_failure_instead_of_raising(demo, fake_openai):
    fake_openai.mode = "error"
    state = new_turn(demo["alice"])
    turn.prepare_turn(state)
    turn.build_prompt(state)
    turn.generate(state)
    assert state.status == "failed" and state.failure.message == "openai backend answered HTTP 500"
    turn.store_turn(state)
    user = Message.objects.get(pk=state.user_message.pk)
    assert user.status == "failed" and user.owner == "" and user.lease_until is None
    assert state.reply_message.status == "failed"


def test_store_turn_settles_the_user_message_and_adds_the_reply(demo):
    state = new_turn(demo["alice"])
    for step in turn.TURN_STEPS:
        step(state)
    user = Message.objects.get(pk=state.user_message.pk)
    assert user.status == "complete" and user.owner == ""
    reply = state.reply_message
    assert reply.role == "assistant" and reply.status == "complete" and reply.content
    assert Conversation.objects.get(pk=state.conversation.pk).message_count == 2
    result = turn.turn_result(state)
    assert result["message_id"] == reply.id and result["response"] == reply.content


def test_result_carries_what_added_steps_put_in_extra(demo):
    state = new_turn(demo["alice"])
    for step in turn.TURN_STEPS:
        step(state)
    state.extra["lore_used"] = []
    assert turn.turn_result(state)["lore_used"] == []


def test_recovery_fails_only_turns_of_processes_that_are_gone(demo):
    conversation = services.conversation_get_or_start(persona=demo["alice"], participant="p")
    dead = pending_message(conversation, owner=dead_owner())
    mine = pending_message(conversation, owner=locks.process_owner())
    remote_live = pending_message(conversation, owner="elsewhere:12:34")
    remote_expired = pending_message(
        conversation, owner="elsewhere:56:78", lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.conversation_turns_recover() == 2
    status = dict(Message.objects.values_list("id", "status"))
    assert status[dead.pk] == "failed" and status[remote_expired.pk] == "failed"
    assert status[mine.pk] == "pending" and status[remote_live.pk] == "pending"
    assert Message.objects.get(pk=dead.pk).error == turn.DIED_REASON


def test_a_lock_left_by_a_dead_process_does_not_keep_the_conversation_busy(demo):
    conversation = services.conversation_get_or_start(persona=demo["alice"], participant="p-1")
    owner = dead_owner()
    stale = pending_message(conversation, owner=owner)
    key = f"conversation-turn:{conversation.id}"
    assert locks._backend(key, 600).acquire(f"{owner}|left-behind")
    result = services.conversation_send_message(
        persona=demo["alice"], content="hello again", sender="p-1"
    )
    assert result["conversation_id"] == str(conversation.id)
    assert Message.objects.get(pk=stale.pk).status == "failed"
    assert locks.lock_holder(key) is None


def test_a_lock_of_a_live_process_still_means_busy(demo):
    conversation = services.conversation_get_or_start(persona=demo["alice"], participant="p-2")
    with services.conversation_turn_lock(str(conversation.id)), pytest.raises(Busy):
        services.conversation_send_message(persona=demo["alice"], content="me too", sender="p-2")


def test_write_turn_stores_the_message_with_its_updates_in_one_statement_on_postgresql(demo):
    from django.db import connection
    from django.db.models import F
    from django.test.utils import CaptureQueriesContext

    state = new_turn(demo["alice"])
    turn.prepare_turn(state)
    conversation = Conversation.objects.filter(pk=state.conversation.pk)
    reply = Message(conversation=state.conversation, role=Message.Role.ASSISTANT, content="hi")
    with CaptureQueriesContext(connection) as queries:
        turn.write_turn(
            reply,
            (Message.objects.filter(pk=state.user_message.pk), {"status": "complete"}),
            (conversation, {"message_count": F("message_count") + 1}),
        )
    assert reply.pk and Message.objects.get(pk=reply.pk).content == "hi"
    assert Message.objects.get(pk=state.user_message.pk).status == "complete"
    assert conversation.get().message_count == 2
    if connection.vendor == "postgresql":
        assert len(queries.captured_queries) == 1  # one round trip, no BEGIN/COMMIT of its own
