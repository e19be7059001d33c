"""OpenAI-compatible servers (llama.cpp, vLLM, LM Studio, OpenAI) through the official
``openai`` client: ``POST {OPENAI_BASE_URL}/chat/completions``, Server-Sent Events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
from django.conf import settings

from llm import remote
from llm.remote import Failure, Part

# A server without keys still needs the client to send one; llama.cpp documents this value.
NO_KEY = "sk-no-key-required"
_clients: dict[tuple, openai.OpenAI] = {}
_lock = threading.Lock()


def _client() -> openai.OpenAI:
    """One pooled client per configuration; retries are ours (one, on connection failure)."""
    base_url = (settings.OPENAI_BASE_URL or "").rstrip("/")
    key = remote.client_key(base_url, settings.OPENAI_API_KEY)
    with _lock:
        client = _clients.get(key)
        if client is None:
            timeout = httpx2.Timeout(
                connect=settings.LLM_CONNECT_TIMEOUT,
                read=settings.LLM_TIMEOUT,
                write=settings.LLM_TIMEOUT,
                pool=settings.LLM_CONNECT_TIMEOUT,
            )
            client = openai.OpenAI(
                base_url=base_url,
                api_key=settings.OPENAI_API_KEY or NO_KEY,
                max_retries=0,
                timeout=timeout,
                http_client=httpx2.Client(
                    timeout=timeout,
                    limits=httpx2.Limits(max_connections=200, max_keepalive_connections=20),
                    event_hooks={"response": [remote.response_hook]},
                ),
            )
            _clients[key] = client
        return client


def _usage(usage: Any) -> dict[str, int]:
    if not usage:
        return {}
    return {
        "prompt_tokens": int(usage.prompt_tokens or 0),
        "completion_tokens": int(usage.completion_tokens or 0),
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("content is not a string")
    return value


class OpenAIProvider(remote.RemoteProvider):
    """Any OpenAI-compatible chat completions server."""

    name = "openai"

    @property
    def model(self) -> str:
        return settings.LLM_MODEL or "gpt-4o-mini"

    def _params(self, messages, max_tokens, temperature) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "messages": messages}
        if max_tokens:
            params["max_tokens"] = max_tokens
        if temperature is not None:
            params["temperature"] = temperature
        return params

    def open_stream(self, messages, *, max_tokens, temperature, tools=None) -> Iterator[Part]:
        params = self._params(messages, max_tokens, temperature)
        if tools:
            params["tools"] = tools
        events = _client().chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True}
        )
        return self._parts(events)

    def _parts(self, events) -> Iterator[Part]:
        # Tool calls arrive in fragments keyed by index: the name first, the arguments' JSON
        # text in pieces; they are complete when the stream ends.
        calls: dict[int, dict] = {}
        try:
            for event in events:
                usage = _usage(event.usage)
                finished = False
                delta = ""
                for choice in event.choices or []:
                    delta += _text(choice.delta.content if choice.delta else None)
                    for call in (choice.delta.tool_calls if choice.delta else None) or []:
                        slot = calls.setdefault(call.index or 0, {"name": "", "arguments": ""})
                        if call.function is not None:
                            slot["name"] += call.function.name or ""
                            slot["arguments"] += call.function.arguments or ""
                    finished = finished or bool(choice.finish_reason)
                yield Part(delta=delta, usage=usage or None, done=finished)
            if calls:
                yield Part(tool_calls=[calls[i] for i in sorted(calls)])
        finally:
            events.close()

    def call(self, messages, *, max_tokens, temperature) -> tuple[str, dict[str, int]]:
        answer = _client().chat.completions.create(
            **self._params(messages, max_tokens, temperature), stream=False
        )
        return _text(answer.choices[0].message.content), _usage(answer.usage)

    def probe(self) -> None:
        _client().with_options(timeout=2.0).models.list()

    def classify(self, exc: BaseException) -> Failure | None:
        if isinstance(exc, openai.APITimeoutError):  # a subclass of APIConnectionError
            return Failure(remote.TIMEOUT, str(exc))
        if isinstance(exc, openai.APIConnectionError):
            return Failure(remote.CONNECT, str(exc.__cause__ or exc))
        if isinstance(exc, openai.APIStatusError):
            return Failure(f"answered HTTP {exc.status_code}", str(exc.body)[:500])
        if isinstance(exc, openai.APIError):
            return Failure("reported an error", str(exc.body or exc.message)[:500])
        if isinstance(exc, httpx2.TimeoutException):
            return Failure(remote.TIMEOUT, str(exc))
        if isinstance(exc, (json.JSONDecodeError, ValueError, IndexError, AttributeError)):
            return Failure(remote.MALFORMED, str(exc)[:500])
        if isinstance(exc, (httpx2.HTTPError, OSError)):
            return Failure(remote.BROKEN, str(exc))
        return None
