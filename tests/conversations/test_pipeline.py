"""The turn pipeline through the service: atomic storage, after-commit work, failures."""

from __future__ import annotations

import threading

import pytest

from conversations.exceptions import ConversationNotFound
from conversations.models import Conversation, Message
from conversations.services import conversation_end, conversation_send_message
from llm.exceptions import LLMTimeout, LLMUnavailable
from personamcp.exceptions import Busy, Cancelled, ValidationFailed
from personas.models import PersonaState, Relationship
from tests.conftest import eventually
from tests.conversations.fakes import closed_port

pytestmark = pytest.mark.django_db(transaction=True)


def send(persona, content="Hello Alice, lovely to see you!", sender="player-1", **kw):
    return conversation_send_message(persona=persona, content=content, sender=sender, **kw)


def test_turn_result_shape_and_atomic_storage(demo, celery_worker):
    alice = demo["alice"]
    result = send(alice, sender_name="Bob", context={"scene": "tavern"})
    assert set(result) == {
        "response",
        "conversation_id",
        "message_id",
        "persona_id",
        "emotion",
        "memories_used",
        "lore_used",  # v1.1
        "triggers_fired",  # v1.1 (goals)
        "actions",  # v1.1
        "expression",  # v1.1
        "usage",
        "timing",
    }
    assert result["response"] and result["persona_id"] == str(alice.id)
    assert result["usage"]["prompt_tokens"] > 0 and result["usage"]["completion_tokens"] > 0
    for key in (
        "total_ms",
        "llm_ms",
        "retrieval_ms",
        "embedding_ms",
        "prompt_ms",
        "persistence_ms",
    ):
        assert result["timing"][key] >= 0
    messages = list(Message.objects.filter(conversation_id=result["conversation_id"]))
    assert [(m.role, m.status) for m in messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    user, reply = messages
    assert user.content == "Hello Alice, lovely to see you!" and user.speaker == "Bob"
    assert reply.id == result["message_id"] and reply.content == result["response"]
    # the exact prompt is kept for the turn inspector
    system = reply.prompt["messages"][0]["content"]
    assert "Alice Thornbury" in system and "tavern" in system
    assert reply.prompt["messages"][-1] == {"role": "user", "content": user.content}
    conversation = Conversation.objects.get(pk=result["conversation_id"])
    assert conversation.message_count == 2 and conversation.participant_name == "Bob"


def test_after_commit_memory_mood_and_relationship(demo, celery_worker):
    from memory.models import Memory

    alice = demo["alice"]
    before = PersonaState.objects.get(persona=alice).mood
    send(alice, content="Thank you so much, you are wonderful and kind!", sender_name="Bob")
    memory = eventually(lambda: Memory.objects.filter(persona=alice, kind="episodic").first())
    assert "Thank you so much" in memory.content and memory.about == "player-1"
    assert 0 <= memory.importance <= 1
    rel = eventually(
        lambda: Relationship.objects.filter(persona=alice, other_id="player-1").first()
    )
    assert rel.interactions == 1 and rel.affinity > 0 and rel.other_name == "Bob"
    state = eventually(lambda: (s := PersonaState.objects.get(persona=alice)).mood > before and s)
    assert state.emotion in {"happy", "excited", "content"}


def test_rude_message_lowers_mood(demo, celery_worker):
    rook = demo["rook"]
    before = PersonaState.objects.get(persona=rook).mood
    send(rook, content="I hate you, you stupid useless thief!")
    state = eventually(lambda: (s := PersonaState.objects.get(persona=rook)).mood < before and s)
    assert state.emotion in {"angry", "annoyed", "sad", "uneasy"}


def test_second_message_continues_the_conversation_with_history(demo, celery_worker):
    alice = demo["alice"]
    first = send(alice, content="My name is Bob and I love mushrooms.")
    second = send(alice, content="What did I tell you?")
    assert second["conversation_id"] == first["conversation_id"]
    reply = Message.objects.get(pk=second["message_id"])
    contents = [m["content"] for m in reply.prompt["messages"]]
    assert "My name is Bob and I love mushrooms." in contents
    assert first["response"] in contents


def test_other_sender_gets_another_conversation(demo, celery_worker):
    a = send(demo["alice"], sender="p1")
    b = send(demo["alice"], sender="p2")
    assert a["conversation_id"] != b["conversation_id"]


def test_memories_are_retrieved_and_reported(demo, celery_worker):
    from memory.services import memory_store

    alice = demo["alice"]
    stored = memory_store(
        persona=alice, content="Bob is allergic to mushrooms.", kind="fact", importance=0.9
    )
    result = send(alice, content="Can I have the mushroom soup?")
    ids = [m["id"] for m in result["memories_used"]]
    assert str(stored.id) in ids
    assert all(0 <= m["score"] <= 1.5 for m in result["memories_used"])
    reply = Message.objects.get(pk=result["message_id"])
    assert f"[memory {stored.id}] Bob is allergic" in reply.prompt["messages"][0]["content"]
    assert reply.memories_used[0]["scores"]  # per-term scores kept for the inspector


def test_empty_and_oversized_messages_are_rejected(demo, settings):
    with pytest.raises(ValidationFailed):
        send(demo["alice"], content="   ")
    settings.PERSONAMCP = {**settings.PERSONAMCP, "MAX_MESSAGE_CHARS": 10}
    with pytest.raises(ValidationFailed):
        send(demo["alice"], content="x" * 11)
    assert Message.objects.count() == 0


def test_conversation_of_another_persona_is_not_found(demo):
    result = send(demo["alice"])
    with pytest.raises(ConversationNotFound):
        send(demo["rook"], conversation_id=result["conversation_id"])


def test_busy_when_a_turn_is_running(demo, fake_ollama):
    alice = demo["alice"]
    first = send(alice)
    fake_ollama.mode, fake_ollama.delay = "slow", 0.1
    errors: list[Exception] = []
    started = threading.Event()

    def long_turn():
        try:
            send(alice, on_chunk=lambda c: started.set(), stream=True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=long_turn)
    thread.start()
    assert started.wait(10)
    with pytest.raises(Busy):
        send(alice, conversation_id=first["conversation_id"])
    thread.join(20)
    assert not errors
    # the lock is released: the next turn runs
    fake_ollama.mode = "ok"
    assert send(alice)["conversation_id"] == first["conversation_id"]


def test_cancel_stores_partial_reply_as_cancelled(demo, fake_ollama, celery_worker):
    alice = demo["alice"]
    fake_ollama.mode, fake_ollama.delay = "slow", 0.2
    cancel = threading.Event()
    chunks = []

    def on_chunk(chunk):
        chunks.append(chunk)
        if len(chunks) == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        send(alice, stream=True, on_chunk=on_chunk, cancel_event=cancel)
    user, reply = Message.objects.order_by("id")
    assert user.status == "complete" and reply.status == "cancelled"
    assert reply.content == "".join(c["delta"] for c in chunks)
    assert 0 < len(reply.content) < len(fake_ollama.reply)
    assert [c["index"] for c in chunks] == [0, 1]
    # the conversation is free again
    fake_ollama.mode = "ok"
    assert send(alice)["response"] == fake_ollama.reply


@pytest.mark.parametrize("mode", ["error", "truncated", "malformed"])
def test_backend_failure_raises_and_stores_a_failed_turn(demo, fake_ollama, mode):
    fake_ollama.mode = mode
    with pytest.raises(LLMUnavailable):
        send(demo["alice"])
    user, reply = Message.objects.order_by("id")
    assert user.status == reply.status == "failed" and reply.error
    # failed turns stay out of later prompts
    fake_ollama.mode = "ok"
    result = send(demo["alice"], content="second try")
    prompt = Message.objects.get(pk=result["message_id"]).prompt["messages"]
    assert [m["role"] for m in prompt] == ["system", "user"]


def test_unreachable_backend_is_32010_and_slow_is_32011(demo, settings, fake_ollama):
    settings.LLM_TIMEOUT = 0.3
    fake_ollama.mode = "stall"
    with pytest.raises(LLMTimeout):
        send(demo["alice"])
    settings.OLLAMA_URL = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(LLMUnavailable):
        send(demo["alice"])


def test_usage_comes_from_the_backend(demo, fake_openai):
    result = send(demo["alice"])
    assert result["response"] == fake_openai.reply
    assert result["usage"] == {"prompt_tokens": 42, "completion_tokens": 7}
    assert fake_openai.requests[-1]["body"]["messages"][0]["role"] == "system"


def test_end_stores_a_summary_memory_and_next_message_opens_a_new_one(demo, celery_worker):
    from memory.models import Memory

    alice = demo["alice"]
    first = send(alice, content="I found a silver ring in the river.")
    conversation = Conversation.objects.get(pk=first["conversation_id"])
    result = conversation_end(conversation=conversation)
    assert result["ended"] is True and "silver ring" in result["summary"]
    assert Memory.objects.filter(persona=alice, metadata__summary=True).count() == 1
    assert conversation_end(conversation=conversation)["summary"] == result["summary"]
    assert send(alice)["conversation_id"] != first["conversation_id"]


def test_periodic_decay_moves_mood_toward_baseline(demo):
    from datetime import timedelta

    from django.utils import timezone

    from conversations.appraisal import baseline_mood
    from conversations.services import persona_moods_decay

    rook = demo["rook"]
    PersonaState.objects.filter(persona=rook).update(
        mood=-0.9, updated_at=timezone.now() - timedelta(hours=12)
    )
    assert persona_moods_decay() >= 1
    state = PersonaState.objects.get(persona=rook)
    base = baseline_mood(rook.personality)
    assert -0.9 < state.mood < base + 0.01
    assert abs(state.mood - (base + (-0.9 - base) * 0.25)) < 0.01  # two half-lives
    assert persona_moods_decay() == 0  # nothing moved since
