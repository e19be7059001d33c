"""End to end against a running daphne: the seed's example flow, SSE, killed connections,
cross-process turn locking, and ``manage.py chat``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from websockets.sync.client import connect

from conversations.models import Message
from tests.conftest import ROOT, eventually, server_env
from tests.conversations.fakes import FakeLLMServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Ws:
    def __init__(self, url: str, key: str):
        self.ws = connect(url, additional_headers={"Authorization": f"Bearer {key}"})
        self.n = 0
        self.notes: list[dict] = []

    def send(self, method: str, params: dict | None = None, req_id=None) -> object:
        self.n += 1
        req_id = req_id if req_id is not None else self.n
        self.ws.send(
            json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or {}})
        )
        return req_id

    def wait(self, req_id, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg.get("id") == req_id and ("result" in msg or "error" in msg):
                return msg
            self.notes.append(msg)

    def call(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        msg = self.wait(self.send(method, params), timeout)
        assert "result" in msg, msg
        return msg["result"]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def key(make_key, demo):
    return make_key("write")


def test_seed_example_flow(live_server_proc, key, celery_worker):
    server = live_server_proc()
    c = Ws(server.ws, key)
    try:
        personas = c.call("persona.list")["personas"]
        assert "alice" in [p["slug"] for p in personas]
        switched = c.call("persona.switch", {"persona_id": "alice"})
        assert switched["persona"]["slug"] == "alice"
        reply = c.call(
            "conversation.send_message",
            {
                "content": "I lost my grey cat near the old mill.",
                "sender": "player-7",
                "sender_name": "Mara",
            },
        )
        assert reply["response"] and reply["conversation_id"]

        def found():
            hits = c.call("memory.search", {"query": "grey cat at the mill"})["memories"]
            return [m for m in hits if "grey cat" in m["content"]]

        assert eventually(found, timeout=60)
        rel = eventually(
            lambda: (
                (r := c.call("relationship.get", {"other_id": "player-7"}))["interactions"] and r
            ),
            timeout=60,
        )
        assert rel["interactions"] == 1 and rel["other_kind"] == "participant"
    finally:
        c.close()


def test_sse_over_http_streams_progressively(live_server_proc, key):
    with FakeLLMServer("ollama", mode="slow", delay=0.15) as fake:
        server = live_server_proc(env={"LLM_PROVIDER": "ollama", "OLLAMA_URL": fake.url})
        arrivals = []
        start = time.perf_counter()
        with httpx.stream(
            "POST",
            f"{server.http}/api/conversations/messages/",
            headers={"Authorization": f"Bearer {key}", "Accept": "text/event-stream"},
            json={"persona_id": "alice", "content": "hello"},
            timeout=30,
        ) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            events = []
            for line in r.iter_lines():
                if line.startswith("event:"):
                    events.append(line.split(":", 1)[1].strip())
                    arrivals.append(time.perf_counter() - start)
        assert events[-1] == "done" and events.count("chunk") == len(fake.pieces())
        # the first chunk arrived long before the end: really streamed, not buffered
        assert arrivals[-1] - arrivals[0] > 0.15 * (len(fake.pieces()) - 2)


def test_killed_connection_mid_stream_leaves_consistent_history(live_server_proc, key):
    with FakeLLMServer("ollama", mode="slow", delay=0.2) as fake:
        server = live_server_proc(env={"LLM_PROVIDER": "ollama", "OLLAMA_URL": fake.url})
        c = Ws(server.ws, key)
        c.send(
            "conversation.send_message",
            {"persona_id": "alice", "content": "tell me everything", "stream": True},
        )
        assert json.loads(c.ws.recv(timeout=10))["method"] == "conversation.expression"
        first = json.loads(c.ws.recv(timeout=10))
        assert first["method"] == "conversation.chunk"
        # kill the TCP connection without a closing handshake
        c.ws.socket.shutdown(socket.SHUT_RDWR)
        c.ws.socket.close()

        def rows():
            got = list(Message.objects.order_by("id").values_list("role", "status", "content"))
            return len(got) == 2 and got

        user, reply = eventually(rows, timeout=15)
        assert user[:2] == ("user", "complete") and reply[:2] == ("assistant", "cancelled")
        assert reply[2].startswith(first["params"]["delta"]) and reply[2] != fake.reply
        fake.mode = "ok"
        c2 = Ws(server.ws, key)
        try:
            again = c2.call(
                "conversation.send_message", {"persona_id": "alice", "content": "are you there?"}
            )
            assert again["response"] == fake.reply
            assert again["conversation_id"] == first["params"]["conversation_id"]
        finally:
            c2.close()


@pytest.mark.scaled
def test_busy_holds_across_two_server_processes(live_server_proc, key):
    with FakeLLMServer("ollama", mode="slow", delay=0.15) as fake:
        env = {"LLM_PROVIDER": "ollama", "OLLAMA_URL": fake.url}
        a, b = live_server_proc(env=env), live_server_proc(env=env)
        ca, cb = Ws(a.ws, key), Ws(b.ws, key)
        try:
            fake.mode = "ok"
            first = ca.call("conversation.send_message", {"persona_id": "alice", "content": "hi"})
            fake.mode = "slow"  # long enough to hold the lock while the other process starts up
            fake.reply = " ".join(["slowly"] * 40)
            slow = ca.send(
                "conversation.send_message",
                {"persona_id": "alice", "content": "long", "stream": True},
            )
            assert json.loads(ca.ws.recv(timeout=10))["method"] == "conversation.expression"
            assert json.loads(ca.ws.recv(timeout=10))["method"] == "conversation.chunk"
            busy = cb.wait(
                cb.send(
                    "conversation.send_message",
                    {
                        "persona_id": "alice",
                        "content": "me too",
                        "conversation_id": first["conversation_id"],
                    },
                )
            )
            assert busy["error"]["code"] == -32030
            assert "result" in ca.wait(slow)
        finally:
            ca.close()
            cb.close()


def test_manage_py_chat_streams_replies(transactional_db, demo, tmp_path):
    env = server_env({"PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "chat", "alice", "--as", "Mara"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate("Do you have any stew left?\nAnd bread?\n/quit\n", timeout=120)
    assert proc.returncode == 0, err
    assert "Talking to Alice Thornbury as Mara" in out
    lines = [line for line in out.splitlines() if "Alice Thornbury: " in line]
    assert len(lines) >= 3  # greeting + two streamed replies
    assert "stew" in out.lower()
    conversation = demo["alice"].conversations.get()
    # the greeting (stored once as the first message) and two turns of two messages
    assert conversation.participant == "cli:Mara" and conversation.message_count == 5
    assert conversation.messages.count() == 5
    assert os.path.exists(ROOT / "manage.py")
