"""Ollama through its official client (``ollama``): ``POST /api/chat``, NDJSON streaming."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pydantic
from django.conf import settings

from llm import remote
from llm.remote import Failure, Part

_clients: dict[tuple, ollama.Client] = {}
_lock = threading.Lock()


def _client() -> ollama.Client:
    """One pooled client per configuration (the underlying httpx client is thread-safe)."""
    key = remote.client_key(settings.OLLAMA_URL)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = ollama.Client(
                host=settings.OLLAMA_URL.rstrip("/"),
                timeout=httpx.Timeout(
                    connect=settings.LLM_CONNECT_TIMEOUT,
                    read=settings.LLM_TIMEOUT,
                    write=settings.LLM_TIMEOUT,
                    pool=settings.LLM_CONNECT_TIMEOUT,
                ),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=20),
                event_hooks={"response": [remote.response_hook]},
            )
            _clients[key] = client
        return client


def _usage(part: ollama.ChatResponse) -> dict[str, int]:
    return {
        "prompt_tokens": int(part.prompt_eval_count or 0),
        "completion_tokens": int(part.eval_count or 0),
    }


def _tool_calls(part: ollama.ChatResponse) -> list[dict] | None:
    """Ollama sends each tool call whole, its arguments as an object."""
    calls = part.message.tool_calls if part.message is not None else None
    if not calls:
        return None
    return [{"name": c.function.name, "arguments": dict(c.function.arguments)} for c in calls]


class OllamaProvider(remote.RemoteProvider):
    """Ollama's native chat API."""

    name = "ollama"

    @property
    def model(self) -> str:
        return settings.LLM_MODEL or "llama3.2"

    def _options(self, max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if max_tokens:
            options["num_predict"] = max_tokens
        if temperature is not None:
            options["temperature"] = temperature
        return options

    def open_stream(self, messages, *, max_tokens, temperature, tools=None) -> Iterator[Part]:
        answer = _client().chat(
            model=self.model,
            messages=messages,
            tools=tools or None,
            stream=True,
            options=self._options(max_tokens, temperature) or None,
        )
        first = next(answer)  # the client sends the request on the first read
        return self._parts(first, answer)

    def _parts(self, first: ollama.ChatResponse, rest: Iterator) -> Iterator[Part]:
        try:
            part = first
            while True:
                content = part.message.content if part.message is not None else ""
                calls = _tool_calls(part)
                if part.done:
                    yield Part(delta=content or "", usage=_usage(part), done=True, tool_calls=calls)
                    return
                yield Part(delta=content or "", tool_calls=calls)
                part = next(rest, None)
                if part is None:
                    return
        finally:
            rest.close()

    def call(self, messages, *, max_tokens, temperature) -> tuple[str, dict[str, int]]:
        answer = _client().chat(
            model=self.model,
            messages=messages,
            stream=False,
            options=self._options(max_tokens, temperature) or None,
        )
        return str(answer.message.content or ""), _usage(answer)

    def probe(self) -> None:
        ollama.Client(host=settings.OLLAMA_URL.rstrip("/"), timeout=2.0).list()

    def classify(self, exc: BaseException) -> Failure | None:
        # ollama turns a refused connection into the builtin ConnectionError (non-streaming)
        # and lets httpx's errors through (streaming).
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
            return Failure(remote.CONNECT, str(exc))
        if isinstance(exc, httpx.TimeoutException):
            return Failure(remote.TIMEOUT, str(exc))
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code and exc.status_code >= 400:
                return Failure(f"answered HTTP {exc.status_code}", exc.error)
            return Failure("reported an error", exc.error)
        if isinstance(exc, (json.JSONDecodeError, pydantic.ValidationError, ValueError)):
            return Failure(remote.MALFORMED, str(exc)[:500])
        if isinstance(exc, (httpx.HTTPError, OSError)):
            return Failure(remote.BROKEN, str(exc))
        return None
