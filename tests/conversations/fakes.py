"""Fake LLM servers on 127.0.0.1 that speak the real wire formats (used by tests and bench).

``FakeLLMServer(kind="ollama"|"openai")`` serves ``POST /api/chat`` (Ollama NDJSON, chunked
transfer encoding) or ``POST /v1/chat/completions`` (OpenAI SSE) plus the model-list endpoints.
Set ``server.mode`` to shape the next answers:

- ``ok``: the reply split into chunks, then the final object / ``data: [DONE]``;
- ``slow``: the same with ``server.delay`` seconds between chunks;
- ``error``: HTTP 500 with a JSON error body;
- ``truncated``: a few chunks, then the connection is cut mid-stream;
- ``malformed``: a few chunks, then a line that is not JSON;
- ``stall``: headers, one chunk, then nothing (the client's read timeout must fire);
- ``no_done``: a clean end of stream without the final done marker;
- ``hold``: the request is received (``server.held`` is set), the answer waits until the test
  sets ``server.gate``, then it is sent as in ``ok``. ``server.hold_when(body) -> bool``
  (optional) holds only the requests it picks (e.g. the chat turn, not a background importance
  question); the others are answered as in ``ok``.

``server.answer(body) -> str | None`` (optional) picks the reply text of one request (None:
``server.reply``), e.g. to answer a classifier's question differently from a chat turn.
``server.tool_calls`` (a list of ``{"name", "arguments"}``; ``arguments`` a dict, or a string
sent as it is) are returned as tool calls to a request that offers ``tools``, in the
backend's own wire format: OpenAI ``tool_calls`` deltas (the arguments JSON in fragments,
``finish_reason: "tool_calls"``) or Ollama ``message.tool_calls`` (arguments as an object).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # like real servers (Go's net/http, uvicorn): no Nagle delay on small stream writes
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        if self.path in ("/api/tags", "/v1/models"):
            body = json.dumps({"models": [], "data": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        # header names are case-insensitive: recorded in lower case
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake.requests.append({"path": self.path, "headers": headers, "body": body})
        expected = "/api/chat" if fake.kind == "ollama" else "/v1/chat/completions"
        if self.path != expected:
            self.send_error(404)
            return
        if fake.mode == "hold" and (fake.hold_when is None or fake.hold_when(body)):
            fake.held.set()
            fake.gate.wait(120)
        if fake.mode == "error":
            payload = json.dumps({"error": "model is overloaded"}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        text = fake.text_for(body)
        calls = fake.tool_calls if body.get("tools") else []
        if not body.get("stream"):
            self._complete(fake, text, calls)
            return
        self.send_response(200)
        ctype = "application/x-ndjson" if fake.kind == "ollama" else "text/event-stream"
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        pieces = fake.pieces(text)
        try:
            for i, piece in enumerate(pieces):
                if fake.mode == "stall" and i == 1:
                    time.sleep(fake.stall_seconds)
                    return
                if fake.mode in ("truncated", "malformed") and i == 2:
                    if fake.mode == "malformed":
                        bad = b"{this is not json\n"
                        self._chunk(bad if fake.kind == "ollama" else b"data: " + bad + b"\n")
                        self._end()
                    else:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._chunk(fake.encode_delta(piece))
                if fake.mode == "slow":
                    time.sleep(fake.delay)
            for chunk in fake.encode_tool_calls(calls):
                self._chunk(chunk)
            if fake.mode != "no_done":
                self._chunk(fake.encode_final(bool(calls)))
            self._end()
        except (BrokenPipeError, ConnectionResetError, OSError):
            fake.client_disconnects += 1

    def _complete(self, fake: FakeLLMServer, text: str, calls: list[dict]) -> None:
        if fake.kind == "ollama":
            message = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = [
                    {"function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls
                ]
            data = {
                "model": "fake",
                "message": message,
                "done": True,
                "prompt_eval_count": fake.prompt_tokens,
                "eval_count": fake.completion_tokens,
            }
        else:
            message = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": c["name"], "arguments": _args_text(c)},
                    }
                    for i, c in enumerate(calls)
                ]
            data = {
                "id": "cmpl-1",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if calls else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": fake.prompt_tokens,
                    "completion_tokens": fake.completion_tokens,
                },
            }
        payload = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _args_text(call: dict) -> str:
    args = call["arguments"]
    return args if isinstance(args, str) else json.dumps(args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLMServer

    def handle_error(self, request, client_address) -> None:
        pass  # clients hanging up mid-stream are part of the tests


class FakeLLMServer:
    """A fake Ollama or OpenAI-compatible server on an ephemeral loopback port."""

    def __init__(
        self,
        kind: str = "ollama",
        reply: str = "Hello there, traveller. Sit down.",
        mode: str = "ok",
        delay: float = 0.05,
    ):
        self.kind = kind
        self.reply = reply
        self.mode = mode
        self.delay = delay
        self.stall_seconds = 5.0
        self.prompt_tokens = 42
        self.completion_tokens = 7
        self.requests: list[dict] = []
        self.answer = None  # body -> reply text or None
        self.hold_when = None  # body -> whether "hold" holds this request (None: every one)
        self.tool_calls: list[dict] = []
        self.client_disconnects = 0
        self.held = threading.Event()
        self.gate = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """OLLAMA_URL or OPENAI_BASE_URL for this server."""
        base = f"http://127.0.0.1:{self.port}"
        return base if self.kind == "ollama" else base + "/v1"

    def text_for(self, body: dict) -> str:
        found = self.answer(body) if self.answer is not None else None
        return self.reply if found is None else found

    def pieces(self, text: str | None = None) -> list[str]:
        return re.findall(r"\S+\s*", self.reply if text is None else text)

    def encode_tool_calls(self, calls: list[dict]) -> list[bytes]:
        """The tool calls as stream chunks of this wire format."""
        if not calls:
            return []
        if self.kind == "ollama":
            line = {
                "model": "fake",
                "message": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"function": {"name": c["name"], "arguments": c["arguments"]}}
                        for c in calls
                    ],
                },
                "done": False,
            }
            return [(json.dumps(line) + "\n").encode()]
        chunks = []
        for i, call in enumerate(calls):
            text = _args_text(call)
            half = len(text) // 2
            first = {"index": i, "id": f"call_{i}", "type": "function"}
            first["function"] = {"name": call["name"], "arguments": text[:half]}
            rest = {"index": i, "function": {"arguments": text[half:]}}
            for delta in (first, rest):
                event = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "choices": [
                        {"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": None}
                    ],
                }
                chunks.append(f"data: {json.dumps(event)}\n\n".encode())
        return chunks

    def encode_delta(self, piece: str) -> bytes:
        if self.kind == "ollama":
            line = {
                "model": "fake",
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            return (json.dumps(line) + "\n").encode()
        event = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        return f"data: {json.dumps(event)}\n\n".encode()

    def encode_final(self, tools: bool = False) -> bytes:
        if self.kind == "ollama":
            line = {
                "model": "fake",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": self.prompt_tokens,
                "eval_count": self.completion_tokens,
            }
            return (json.dumps(line) + "\n").encode()
        stop = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": "tool_calls" if tools else "stop"}
            ],
        }
        usage = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            },
        }
        return (
            f"data: {json.dumps(stop)}\n\n: keep-alive\n\ndata: {json.dumps(usage)}\n\n"
            "data: [DONE]\n\n"
        ).encode()

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
