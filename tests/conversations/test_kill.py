"""A server killed with SIGKILL in the middle of a streamed turn loses nothing it accepted, and
the conversation is usable at once after the restart (embedded and scaled modes)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from conversations.models import Message
from conversations.turn import DIED_REASON
from tests.conversations.fakes import FakeLLMServer
from tests.conversations.test_live import Ws

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def key(make_key, demo):
    return make_key("write")


def test_kill_9_mid_stream_keeps_the_message_and_frees_the_conversation(live_server_proc, key):
    with FakeLLMServer("openai", mode="slow", delay=0.3) as fake:
        fake.reply = " ".join(["word"] * 60)
        env = {
            "LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": fake.url,
            "OPENAI_API_KEY": "sk-test",
            "LLM_MODEL": "fake",
        }
        server = live_server_proc(env=env)
        c = Ws(server.ws, key)
        c.send(
            "conversation.send_message",
            {"persona_id": "alice", "content": "Tell me the whole story, please.", "stream": True},
        )
        expression = json.loads(c.ws.recv(timeout=20))  # known before the reply starts
        assert expression["method"] == "conversation.expression"
        first = json.loads(c.ws.recv(timeout=20))
        assert first["method"] == "conversation.chunk"
        conversation_id = first["params"]["conversation_id"]
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        c.ws.socket.close()

        # What the server accepted is stored, waiting for a reply that will never come.
        rows = list(Message.objects.order_by("id").values_list("role", "status", "content"))
        assert rows == [("user", "pending", "Tell me the whole story, please.")]

        fake.mode = "ok"
        fake.reply = "I am back."
        again = live_server_proc(env=env)  # the restart fails the dead turn before serving
        c2 = Ws(again.ws, key)
        try:
            history = c2.call("conversation.history", {"conversation_id": conversation_id})
            assert [(m["role"], m["status"]) for m in history["messages"]] == [("user", "failed")]
            assert Message.objects.get(role="user").error == DIED_REASON
            # usable at once: in scaled mode the dead process's Redis lock is gone too
            reply = c2.call(
                "conversation.send_message",
                {
                    "persona_id": "alice",
                    "content": "Are you there?",
                    "conversation_id": conversation_id,
                },
            )
            assert reply["response"] == "I am back."
            statuses = list(Message.objects.order_by("id").values_list("role", "status"))
            assert statuses == [
                ("user", "failed"),
                ("user", "complete"),
                ("assistant", "complete"),
            ]
        finally:
            c2.close()
