"""The after-turn work holds no transaction while it waits for the LLM (MOOD_APPRAISAL=llm)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from conversations import after_turn, services
from conversations.models import Message
from memory.models import Memory
from personas.models import Persona

pytestmark = pytest.mark.django_db(transaction=True)


def a_stored_turn(persona) -> Message:
    conversation = services.conversation_get_or_start(persona=persona, participant="player-3")
    Message.objects.create(
        conversation=conversation, role="user", speaker="Mara", content="You are wonderful!"
    )
    return Message.objects.create(
        conversation=conversation,
        role="assistant",
        speaker=persona.name,
        content="Why, thank you, dear.",
        prompt={"sender": "player-3"},
    )


def in_thread(target) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_second_writer_is_not_blocked_by_a_slow_llm_appraisal(demo, fake_openai, settings):
    settings.MOOD_APPRAISAL = "llm"
    fake_openai.mode, fake_openai.reply = (
        "hold",
        '{"valence": 0.8, "arousal": 0.4, "emotion": "joy"}',
    )
    reply = a_stored_turn(demo["alice"])
    outcome: dict = {}
    worker = in_thread(
        lambda: outcome.update(services.conversation_after_turn(message_id=reply.pk))
    )
    assert fake_openai.held.wait(60), "the appraisal never reached the LLM"

    writer = in_thread(lambda: Persona.objects.filter(slug="rook").update(name="Rook the Second"))
    writer.join(30)
    try:
        assert not writer.is_alive(), "the write waited for the after-turn LLM call"
        assert worker.is_alive()  # the appraisal is still waiting for the LLM
        assert Persona.objects.get(slug="rook").name == "Rook the Second"
    finally:
        fake_openai.gate.set()
        worker.join(60)
    assert outcome.get("memory_id"), outcome
    assert Message.objects.get(pk=reply.pk).processed_at is not None
    assert Memory.objects.filter(metadata__message_id=reply.pk).count() == 1


def test_a_claim_taken_over_by_another_run_is_not_written_twice(demo):
    reply = a_stored_turn(demo["alice"])
    first = after_turn.claim(message_id=reply.pk)
    assert after_turn.claim(message_id=reply.pk) is None  # claimed: a second run keeps off
    # the first run is presumed dead; a later run takes the reply over
    Message.objects.filter(pk=reply.pk).update(
        after_turn_claimed_at=first.claimed_at.replace(year=2000)
    )
    second = after_turn.claim(message_id=reply.pk)
    assert second is not None
    assert "skipped" in after_turn.record(after_turn.appraise(first))  # no longer its claim
    assert "memory_id" in after_turn.record(after_turn.appraise(second))
    assert Memory.objects.filter(metadata__message_id=reply.pk).count() == 1
