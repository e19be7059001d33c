"""A failed or cancelled turn stores the JSON-RPC code it ended with; the dashboard counts errors
by that code, not by guessing from the error's text."""

from __future__ import annotations

import threading

import pytest

from conversations.models import Message
from conversations.services import conversation_send_message
from dashboard.selectors import turn_stats
from llm.exceptions import LLMTimeout, LLMUnavailable
from personamcp.exceptions import Cancelled
from tests.conversations.conftest import fake_ollama  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def _codes() -> dict[int, int]:
    return {row["code"]: row["count"] for row in turn_stats("hour")["errors"]}


def test_failed_and_cancelled_turns_store_their_codes(demo, fake_ollama, settings):  # noqa: F811
    alice = demo["alice"]
    fake_ollama.mode = "error"
    with pytest.raises(LLMUnavailable):
        conversation_send_message(persona=alice, content="hello", sender="user:a")
    settings.LLM_TIMEOUT = 0.3
    fake_ollama.mode = "stall"
    with pytest.raises(LLMTimeout):
        conversation_send_message(persona=alice, content="hello", sender="user:b")
    cancel = threading.Event()
    cancel.set()
    fake_ollama.mode = "ok"
    with pytest.raises(Cancelled):
        conversation_send_message(persona=alice, content="hi", sender="user:c", cancel_event=cancel)
    conversation_send_message(persona=alice, content="hi", sender="user:d")

    replies = Message.objects.filter(role="assistant").order_by("id")
    assert [(m.status, m.error_code) for m in replies] == [
        ("failed", -32010),
        ("failed", -32011),
        ("cancelled", -32031),
        ("complete", None),
    ]
    users = Message.objects.filter(role="user").order_by("id")
    assert [m.error_code for m in users] == [-32010, -32011, None, None]
    assert _codes() == {-32010: 1, -32011: 1, -32031: 1}


def test_errors_are_counted_by_the_stored_code_whatever_the_text(demo, fake_ollama):  # noqa: F811
    fake_ollama.mode = "error"
    with pytest.raises(LLMUnavailable):
        conversation_send_message(persona=demo["rook"], content="hello", sender="user:a")
    reply = Message.objects.get(role="assistant")
    # the old dashboard read "timeout" in this text as -32011
    Message.objects.filter(pk=reply.pk).update(error="the backend timed out, then refused")
    assert _codes() == {-32010: 1}
    Message.objects.filter(pk=reply.pk).update(error_code=None)  # a turn that says no code
    assert _codes() == {-32603: 1}
