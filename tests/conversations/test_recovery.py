"""After-turn work happens exactly once, and is recovered when its process died."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services
from conversations.models import Message
from memory.models import Memory
from personas.models import Relationship
from tests.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)


def _turn(persona):
    return services.conversation_send_message(
        persona=persona, content="What a lovely evening, thank you!", sender="player:7"
    )


def _exchange_memories(message_id: int) -> int:
    return Memory.objects.filter(metadata__message_id=message_id).count()


def test_after_turn_runs_once_even_when_repeated(demo, celery_worker):
    result = _turn(demo["alice"])
    eventually(lambda: Message.objects.get(pk=result["message_id"]).processed_at)
    again = services.conversation_after_turn(message_id=result["message_id"])
    assert "skipped" in again
    assert _exchange_memories(result["message_id"]) == 1
    assert Relationship.objects.get(persona=demo["alice"], other_id="player:7").interactions == 1


def test_replies_left_unprocessed_by_a_dead_process_are_recovered(demo, celery_worker):
    result = _turn(demo["rook"])
    message_id = result["message_id"]
    eventually(lambda: Message.objects.get(pk=message_id).processed_at)
    # What a process killed between the reply's commit and its background job leaves behind:
    Memory.objects.filter(metadata__message_id=message_id).delete()
    Relationship.objects.filter(persona=demo["rook"], other_id="player:7").delete()
    Message.objects.filter(pk=message_id).update(
        processed_at=None,
        after_turn_claimed_at=None,
        created_at=timezone.now() - timedelta(minutes=5),
    )
    assert services.conversation_after_turn_recover() == 1
    assert _exchange_memories(message_id) == 1
    assert Relationship.objects.get(persona=demo["rook"], other_id="player:7").interactions == 1
    assert services.conversation_after_turn_recover() == 0  # nothing left, nothing doubled


def test_work_claimed_by_a_run_that_died_is_taken_over_once_the_claim_is_stale(demo, celery_worker):
    result = _turn(demo["pip"])
    message_id = result["message_id"]
    eventually(lambda: Message.objects.get(pk=message_id).processed_at)
    Memory.objects.filter(metadata__message_id=message_id).delete()
    fresh_claim = timezone.now()
    Message.objects.filter(pk=message_id).update(
        processed_at=None,
        after_turn_claimed_at=fresh_claim,
        created_at=timezone.now() - timedelta(minutes=5),
    )
    assert services.conversation_after_turn_recover() == 0  # a live run may be working on it
    Message.objects.filter(pk=message_id).update(
        after_turn_claimed_at=fresh_claim - timedelta(hours=1)
    )
    assert services.conversation_after_turn_recover() == 1
    assert _exchange_memories(message_id) == 1
