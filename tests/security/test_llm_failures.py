"""Every LLM failure mode, seen by a client of /mcp on a real server with a fake backend
(Ollama and OpenAI wire formats): a documented error code, never -32603 and never the
backend's own words; the conversation is usable again at once."""

from __future__ import annotations

import json

import pytest
from websockets.sync.client import connect

from tests.conversations.fakes import FakeLLMServer, closed_port

pytestmark = pytest.mark.django_db(transaction=True)
MODES = {  # fake mode -> acceptable JSON-RPC error codes
    "error": {-32010},
    "truncated": {-32010},
    "malformed": {-32010},
    "stall": {-32011},
}
BACKEND_WORDS = ("model is overloaded", "Traceback", "Errno", "127.0.0.1:")


class Client:
    def __init__(self, url: str, key: str):
        self.ws = connect(url, additional_headers={"Authorization": f"Bearer {key}"})
        self.n = 0

    def call(self, method: str, params: dict) -> tuple[dict, list[dict]]:
        self.n += 1
        self.ws.send(
            json.dumps({"jsonrpc": "2.0", "id": self.n, "method": method, "params": params})
        )
        notes = []
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.n:
                return message, notes
            notes.append(message)


def _env(kind: str, url: str) -> dict:
    env = {"LLM_PROVIDER": kind, "LLM_MODEL": "fake", "LLM_TIMEOUT": "1.5"}
    env["OLLAMA_URL" if kind == "ollama" else "OPENAI_BASE_URL"] = url
    return env


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_each_failure_mode_maps_to_its_code(live_server_proc, demo, make_key, kind):
    with FakeLLMServer(kind, delay=0.01) as fake:
        fake.stall_seconds = 4.0
        srv = live_server_proc(_env(kind, fake.url))
        client = Client(srv.ws, make_key("write"))
        for mode, codes in MODES.items():
            for stream in (False, True):
                fake.mode = mode
                sender = f"{kind}-{mode}-{stream}"
                answer, _ = client.call(
                    "conversation.send_message",
                    {"persona_id": "alice", "content": "Hello?", "sender": sender,
                     "stream": stream},
                )  # fmt: skip
                error = answer.get("error")
                assert error is not None, (mode, stream, answer)
                assert error["code"] in codes, (mode, stream, error)
                text = json.dumps(error)
                assert not any(w in text for w in BACKEND_WORDS), (mode, error)
                # usable at once: the same conversation answers the next turn
                fake.mode = "ok"
                again, _ = client.call(
                    "conversation.send_message",
                    {"persona_id": "alice", "content": "Are you there?", "sender": sender},
                )
                assert again.get("result", {}).get("response"), (mode, again)
                history, _ = client.call(
                    "conversation.history", {"conversation_id": again["result"]["conversation_id"]}
                )
                messages = history["result"]["messages"]
                assert messages[-1]["status"] == "complete"
                assert [m["role"] for m in messages].count("user") == 2  # nothing lost
        client.ws.close()


def test_unreachable_backend_is_32010(live_server_proc, demo, make_key):
    srv = live_server_proc(_env("ollama", f"http://127.0.0.1:{closed_port()}"))
    client = Client(srv.ws, make_key("write"))
    answer, _ = client.call("conversation.send_message", {"persona_id": "alice", "content": "Hi"})
    assert answer["error"]["code"] == -32010
    assert not any(w in json.dumps(answer["error"]) for w in BACKEND_WORDS), answer
    status, _ = client.call("system.status", {})
    assert status["result"]["llm_available"] is False
    client.ws.close()
