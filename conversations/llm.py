"""LLM providers behind one interface, chosen by ``settings.LLM_PROVIDER``.

* ``ollama``: ``POST {OLLAMA_URL}/api/chat``, streaming NDJSON (one JSON object per line,
  the last with ``"done": true`` and the token counts).
* ``openai``: any OpenAI-compatible server, ``POST {OPENAI_BASE_URL}/chat/completions`` with
  Server-Sent Events (``data: {...}`` lines ending with ``data: [DONE]``).
* ``offline``: a deterministic built-in responder that answers in the persona's voice from the
  hints the turn pipeline passes (greeting, speaking style, mood, memories). It is not a
  language model and says so in ``provider_info()``.

Every provider offers ``complete(messages) -> str`` and ``stream(messages) -> LLMStream``
(an iterator of text deltas whose ``usage`` is filled once it is exhausted). Network errors
become ``LLMUnavailable`` (-32010) and slow backends ``LLMTimeout`` (-32011); a connection
that cannot be opened is retried once.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

from conversations.exceptions import LLMTimeout, LLMUnavailable

log = logging.getLogger(__name__)


def estimate_tokens(text: str) -> int:
    """Rough token count (about four characters per token), used when a backend gives none."""
    return max(1, (len(text) + 3) // 4) if text else 0


def messages_tokens(messages: list[dict]) -> int:
    """Estimated prompt size of a chat message list (content plus a little per message)."""
    return sum(estimate_tokens(m.get("content", "")) + 4 for m in messages)


@dataclass
class LLMStream:
    """An iterator of text deltas; ``usage`` and ``text`` are complete once it is exhausted.

    ``cancelled`` is True when iteration stopped because the cancel event was set.
    """

    _chunks: Iterator[str]
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0}
    )
    text: str = ""
    cancelled: bool = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        delta = next(self._chunks)
        self.text += delta
        return delta

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class StopAtSequences:
    """An ``LLMStream`` that ends before the first of the ``stop`` sequences (OpenAI ``stop``).

    Text that could be the start of a stop sequence is held back until it is known not to be
    one, so a stop sequence is never streamed; the backend's generation is closed when one is
    found.
    """

    def __init__(self, inner: LLMStream, stop: list[str]):
        self.inner = inner
        self.stop = [s for s in stop if s]
        self.raw = ""
        self.sent = 0
        self.stopped = False

    @property
    def text(self) -> str:
        return self.raw[: self.sent] if self.stopped else self.raw

    @property
    def usage(self) -> dict:
        usage = dict(self.inner.usage)
        if self.stopped or not usage.get("completion_tokens"):
            usage["completion_tokens"] = estimate_tokens(self.text)
        return usage

    @property
    def cancelled(self) -> bool:
        return self.inner.cancelled

    def __iter__(self) -> Iterator[str]:
        return self

    def _held_back(self) -> int:
        """Length of the longest end of ``raw`` that is a proper prefix of a stop sequence."""
        longest = 0
        for seq in self.stop:
            for n in range(min(len(seq) - 1, len(self.raw)), longest, -1):
                if self.raw.endswith(seq[:n]):
                    longest = n
                    break
        return longest

    def __next__(self) -> str:
        while not self.stopped:
            try:
                delta = next(self.inner)
            except StopIteration:
                rest = self.raw[self.sent :]
                self.sent = len(self.raw)
                self.stopped = True
                self.raw = self.raw[: self.sent]
                if rest:
                    return rest
                break
            self.raw += delta
            window = max(0, self.sent - max(map(len, self.stop)))
            hits = [i for i in (self.raw.find(s, window) for s in self.stop) if i >= 0]
            if hits:
                end = min(hits)
                out = self.raw[self.sent : end]
                self.sent = end
                self.stopped = True
                self.inner.close()
                if out:
                    return out
                break
            safe = len(self.raw) - self._held_back()
            if safe > self.sent:
                out = self.raw[self.sent : safe]
                self.sent = safe
                return out
        raise StopIteration

    def close(self) -> None:
        self.inner.close()


class Provider(abc.ABC):
    """Base class of the providers."""

    name = "base"
    is_llm = True

    @property
    def model(self) -> str:
        return settings.LLM_MODEL

    @abc.abstractmethod
    def stream(
        self,
        messages: list[dict],
        *,
        cancel_event: threading.Event | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        hints: dict | None = None,
    ) -> LLMStream: ...

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        hints: dict | None = None,
    ) -> str:
        """The whole reply as one string."""
        stream = self.stream(messages, max_tokens=max_tokens, temperature=temperature, hints=hints)
        return "".join(stream)

    def available(self) -> bool:
        return True

    def info(self) -> dict:
        return {"provider": self.name, "model": self.model, "is_llm": self.is_llm, "note": ""}


# --- HTTP providers -------------------------------------------------------------------------


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(
        connect=settings.LLM_CONNECT_TIMEOUT,
        read=settings.LLM_TIMEOUT,
        write=settings.LLM_TIMEOUT,
        pool=settings.LLM_CONNECT_TIMEOUT,
    )


class _Canceller:
    """Wakes a read blocked on the backend's socket when the cancel event is set."""

    def __init__(self, response: httpx.Response, cancel_event: threading.Event | None):
        self.response = response
        self.cancel_event = cancel_event
        self.done = threading.Event()
        if cancel_event is not None:
            threading.Thread(target=self._watch, name="llm-cancel", daemon=True).start()

    def _watch(self) -> None:
        while not self.done.is_set():
            if self.cancel_event.wait(0.02):
                if not self.done.is_set():
                    self._shutdown()
                return

    def _shutdown(self) -> None:
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self.done.set()


_clients: dict[tuple, httpx.Client] = {}
_clients_lock = threading.Lock()


def _shared_client(headers: dict[str, str]) -> httpx.Client:
    """One pooled client per configuration (creating a client costs milliseconds: TLS context,
    connection pool); httpx clients are thread-safe."""
    key = (
        settings.LLM_TIMEOUT,
        settings.LLM_CONNECT_TIMEOUT,
        tuple(sorted(headers.items())),
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = httpx.Client(
                timeout=_timeout(),
                headers=headers,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=20),
            )
            _clients[key] = client
        return client


class HttpProvider(Provider):
    """Shared HTTP plumbing: timeouts, one retry on connection failure, error mapping."""

    base_url = ""

    def _client(self) -> httpx.Client:
        return _shared_client(self._headers())

    def _headers(self) -> dict[str, str]:
        return {}

    @abc.abstractmethod
    def _url(self) -> str: ...

    @abc.abstractmethod
    def _body(self, messages: list[dict], *, stream: bool, max_tokens, temperature) -> dict: ...

    @abc.abstractmethod
    def _parse_stream(self, response: httpx.Response, stream: LLMStream) -> Iterator[str]: ...

    @abc.abstractmethod
    def _parse_complete(self, data: dict) -> tuple[str, dict[str, int]]: ...

    def _open(self, client: httpx.Client, body: dict) -> httpx.Response:
        """Send the request (streaming); retry once when the connection cannot be made."""
        for attempt in (1, 2):
            try:
                request = client.build_request("POST", self._url(), json=body)
                response = client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == 2:
                    raise LLMUnavailable(f"{self.name} backend unreachable: {exc}") from None
                time.sleep(0.2)
                continue
            except httpx.TimeoutException:
                raise LLMTimeout(f"{self.name} backend timed out") from None
            except httpx.HTTPError as exc:
                raise LLMUnavailable(f"{self.name} backend error: {exc}") from None
            if response.status_code >= 400:
                try:
                    detail = response.read().decode(errors="replace")[:200]
                except httpx.HTTPError:
                    detail = ""
                response.close()
                raise LLMUnavailable(
                    f"{self.name} backend answered HTTP {response.status_code}: {detail}"
                )
            return response
        raise AssertionError("unreachable")

    def stream(
        self,
        messages: list[dict],
        *,
        cancel_event: threading.Event | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        hints: dict | None = None,
    ) -> LLMStream:
        body = self._body(messages, stream=True, max_tokens=max_tokens, temperature=temperature)
        response = self._open(self._client(), body)
        result = LLMStream(iter(()))

        def chunks() -> Iterator[str]:
            canceller = _Canceller(response, cancel_event)
            try:
                for delta in self._parse_stream(response, result):
                    if cancel_event is not None and cancel_event.is_set():
                        result.cancelled = True
                        return
                    if delta:
                        yield delta
            except httpx.TimeoutException:
                raise LLMTimeout(f"{self.name} backend stopped sending (read timeout)") from None
            except (httpx.HTTPError, OSError) as exc:
                if cancel_event is not None and cancel_event.is_set():
                    result.cancelled = True
                    return
                raise LLMUnavailable(f"{self.name} stream broke off: {exc}") from None
            finally:
                canceller.stop()
                response.close()
            if not result.usage.get("completion_tokens"):
                result.usage["completion_tokens"] = estimate_tokens(result.text)
            if not result.usage.get("prompt_tokens"):
                result.usage["prompt_tokens"] = messages_tokens(messages)

        result._chunks = chunks()
        return result

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        hints: dict | None = None,
    ) -> str:
        text, _ = self.complete_with_usage(messages, max_tokens=max_tokens, temperature=temperature)
        return text

    def complete_with_usage(
        self, messages: list[dict], *, max_tokens: int | None = None, temperature=None
    ) -> tuple[str, dict[str, int]]:
        """One non-streaming request; returns the text and the token usage."""
        body = self._body(messages, stream=False, max_tokens=max_tokens, temperature=temperature)
        response = self._open(self._client(), body)
        try:
            raw = response.read()
        except httpx.TimeoutException:
            raise LLMTimeout(f"{self.name} backend timed out") from None
        except httpx.HTTPError as exc:
            raise LLMUnavailable(f"{self.name} backend error: {exc}") from None
        finally:
            response.close()
        try:
            text, usage = self._parse_complete(json.loads(raw))
        except (ValueError, KeyError, TypeError, IndexError):
            raise LLMUnavailable(f"{self.name} backend sent a malformed response") from None
        usage.setdefault("prompt_tokens", messages_tokens(messages))
        usage.setdefault("completion_tokens", estimate_tokens(text))
        return text, usage

    def available(self) -> bool:
        try:
            with httpx.Client(timeout=httpx.Timeout(2.0)) as client:
                return client.get(self._health_url()).status_code < 500
        except httpx.HTTPError:
            return False

    @abc.abstractmethod
    def _health_url(self) -> str: ...


class OllamaProvider(HttpProvider):
    """Ollama's native chat API with NDJSON streaming."""

    name = "ollama"

    @property
    def base_url(self) -> str:  # type: ignore[override]
        return settings.OLLAMA_URL.rstrip("/")

    @property
    def model(self) -> str:
        return settings.LLM_MODEL or "llama3.2"

    def _url(self) -> str:
        return f"{self.base_url}/api/chat"

    def _health_url(self) -> str:
        return f"{self.base_url}/api/tags"

    def _body(self, messages, *, stream, max_tokens, temperature) -> dict:
        options: dict[str, Any] = {}
        if max_tokens:
            options["num_predict"] = max_tokens
        if temperature is not None:
            options["temperature"] = temperature
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": stream}
        if options:
            body["options"] = options
        return body

    def _parse_stream(self, response: httpx.Response, stream: LLMStream) -> Iterator[str]:
        done = False
        for line in response.iter_lines():
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if "error" in data:
                    raise LLMUnavailable(f"ollama error: {str(data['error'])[:200]}")
                delta = (data.get("message") or {}).get("content", "")
                if not isinstance(delta, str):
                    raise TypeError("content is not a string")
            except (ValueError, TypeError, AttributeError):
                raise LLMUnavailable("ollama sent a malformed stream line") from None
            yield delta
            if data.get("done"):
                stream.usage = {
                    "prompt_tokens": int(data.get("prompt_eval_count") or 0),
                    "completion_tokens": int(data.get("eval_count") or 0),
                }
                done = True
                break
        if not done:
            raise LLMUnavailable("ollama stream ended before it was done")

    def _parse_complete(self, data: dict) -> tuple[str, dict[str, int]]:
        if "error" in data:
            raise LLMUnavailable(f"ollama error: {str(data['error'])[:200]}")
        text = data["message"]["content"]
        usage = {}
        if data.get("prompt_eval_count"):
            usage["prompt_tokens"] = int(data["prompt_eval_count"])
        if data.get("eval_count"):
            usage["completion_tokens"] = int(data["eval_count"])
        return str(text), usage


class OpenAIProvider(HttpProvider):
    """Any OpenAI-compatible chat completions server (llama.cpp, vLLM, LM Studio, OpenAI)."""

    name = "openai"

    @property
    def base_url(self) -> str:  # type: ignore[override]
        return (settings.OPENAI_BASE_URL or "").rstrip("/")

    @property
    def model(self) -> str:
        return settings.LLM_MODEL or "gpt-4o-mini"

    def _headers(self) -> dict[str, str]:
        if settings.OPENAI_API_KEY:
            return {"Authorization": f"Bearer {settings.OPENAI_API_KEY}"}
        return {}

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _health_url(self) -> str:
        return f"{self.base_url}/models"

    def available(self) -> bool:
        try:
            with httpx.Client(timeout=httpx.Timeout(2.0), headers=self._headers()) as client:
                return client.get(self._health_url()).status_code < 500
        except httpx.HTTPError:
            return False

    def _body(self, messages, *, stream, max_tokens, temperature) -> dict:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        if max_tokens:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        return body

    def _parse_stream(self, response: httpx.Response, stream: LLMStream) -> Iterator[str]:
        finished = False
        for line in response.iter_lines():
            line = line.strip()
            if not line or line.startswith(":"):
                continue  # keep-alive comments
            if not line.startswith("data:"):
                continue  # other SSE fields (event:, id:, retry:)
            payload = line[5:].strip()
            if payload == "[DONE]":
                finished = True
                break
            try:
                data = json.loads(payload)
                if "error" in data:
                    message = (
                        data["error"].get("message")
                        if isinstance(data["error"], dict)
                        else data["error"]
                    )
                    raise LLMUnavailable(f"openai error: {str(message)[:200]}")
                if data.get("usage"):
                    stream.usage = {
                        "prompt_tokens": int(data["usage"].get("prompt_tokens") or 0),
                        "completion_tokens": int(data["usage"].get("completion_tokens") or 0),
                    }
                for choice in data.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content") or ""
                    if not isinstance(delta, str):
                        raise TypeError("content is not a string")
                    if choice.get("finish_reason"):
                        finished = True
                    yield delta
            except (ValueError, TypeError, AttributeError):
                raise LLMUnavailable("openai-compatible server sent a malformed event") from None
        if not finished:
            raise LLMUnavailable("openai-compatible stream ended before it was done")

    def _parse_complete(self, data: dict) -> tuple[str, dict[str, int]]:
        if "error" in data:
            raise LLMUnavailable(f"openai error: {str(data['error'])[:200]}")
        text = data["choices"][0]["message"]["content"] or ""
        usage = {}
        if data.get("usage"):
            usage = {
                "prompt_tokens": int(data["usage"].get("prompt_tokens") or 0),
                "completion_tokens": int(data["usage"].get("completion_tokens") or 0),
            }
        return str(text), usage


# --- offline responder ----------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_STOP = frozenset(
    [
        "about",
        "above",
        "after",
        "again",
        "also",
        "been",
        "before",
        "being",
        "could",
        "does",
        "doing",
        "down",
        "from",
        "have",
        "having",
        "here",
        "into",
        "just",
        "like",
        "more",
        "most",
        "much",
        "only",
        "other",
        "over",
        "same",
        "should",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "until",
        "very",
        "want",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "your",
        "yours",
        "you're",
        "i'm",
        "it's",
        "that's",
        "tell",
        "know",
        "think",
        "really",
        "please",
        "seen",
        "near",
        "said",
        "going",
        "make",
        "made",
        "come",
        "came",
        "take",
        "took",
        "went",
        "give",
        "gave",
        "look",
        "looked",
        "well",
        "still",
        "even",
        "ever",
        "back",
        "away",
        "maybe",
        "perhaps",
        "something",
        "anything",
        "nothing",
        "everything",
        "somebody",
        "anyone",
    ]
)


def _keywords(text: str, limit: int = 2) -> list[str]:
    words = [w.lower().strip("'-") for w in _WORD.findall(text)]
    seen: dict[str, int] = {}
    for i, w in enumerate(words):
        if w not in _STOP and w not in seen:
            seen[w] = i
    return sorted(seen, key=lambda w: (-len(w), seen[w]))[:limit]


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


class OfflineProvider(Provider):
    """A deterministic responder for running without any LLM. Not a language model.

    It composes a reply from the persona's greeting (first turn), its speaking style (forms of
    address in quotes, exclamations, brevity), its mood, the words of the message and the best
    retrieved memory. The same input gives the same reply.
    """

    name = "offline"
    is_llm = False

    @property
    def model(self) -> str:
        return "offline-responder"

    def info(self) -> dict:
        return {
            "provider": self.name,
            "model": self.model,
            "is_llm": False,
            "note": "built-in offline responder, not a language model: replies are composed "
            "from the persona's card, mood and memories; set LLM_PROVIDER to ollama or openai "
            "for real conversations",
        }

    def reply(self, messages: list[dict], hints: dict | None = None) -> str:
        """The full reply text for these messages and hints."""
        hints = hints or {}
        user = hints.get("message") or next(
            (m["content"] for m in reversed(messages) if m.get("role") == "user"), ""
        )
        seed = hashlib.sha256(
            json.dumps([hints.get("persona_name", ""), user, len(messages)]).encode()
        ).digest()
        rng = random.Random(seed)
        style = (hints.get("speaking_style") or "").lower()
        quoted = re.findall(r"'([^']{1,20})'|\"([^\"]{1,20})\"", hints.get("speaking_style") or "")
        address = [a or b for a, b in quoted]
        mood = float(hints.get("mood") or 0.0)
        name = hints.get("sender_name") or ""
        parts: list[str] = []
        if hints.get("first_turn") and hints.get("greeting"):
            parts.append(hints["greeting"])
        elif mood > 0.3:
            parts.append(
                rng.choice(["Ah, good to hear from you.", "Well now, that's nice.", "Splendid."])
            )
        elif mood < -0.3:
            parts.append(rng.choice(["Hmph.", "If you must.", "Not the best of days, this."]))
        else:
            parts.append(rng.choice(["I see.", "Hm, let me think.", "Right then."]))
        words = _keywords(user)
        if words:
            topic = " and ".join(words)
            if user.rstrip().endswith("?"):
                parts.append(
                    rng.choice(
                        [
                            f"You ask about {topic}? I can only tell you what I know.",
                            f"{topic.capitalize()}, you say? That's a fair question.",
                        ]
                    )
                )
            else:
                parts.append(
                    rng.choice(
                        [
                            f"So it's {topic} on your mind.",
                            f"{topic.capitalize()}, is it? Tell me more.",
                        ]
                    )
                )
        memories = hints.get("memories") or []
        if memories:
            parts.append(f"I remember this: {_short(memories[0])}")
        if address:
            lead = rng.choice(address)
            parts[-1] = parts[-1].rstrip(".!?") + f", {lead}."
        elif name and not name.startswith(("session:", "apikey:")):
            parts[-1] = parts[-1].rstrip(".!?") + f", {name}."
        if "short" in style or "terse" in style:
            parts = parts[:2]
        text = " ".join(parts)
        if "exclamation" in style or "exuberant" in style:
            text = text.replace(".", "!")
        return text

    def stream(
        self,
        messages: list[dict],
        *,
        cancel_event: threading.Event | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        hints: dict | None = None,
    ) -> LLMStream:
        text = self.reply(messages, hints)
        pieces = re.findall(r"\S+\s*", text)
        if max_tokens:
            pieces = pieces[:max_tokens]
        result = LLMStream(iter(()))

        def chunks() -> Iterator[str]:
            for piece in pieces:
                if cancel_event is not None and cancel_event.is_set():
                    result.cancelled = True
                    return
                yield piece
            result.usage = {
                "prompt_tokens": messages_tokens(messages),
                "completion_tokens": estimate_tokens(result.text),
            }

        result._chunks = chunks()
        return result


_PROVIDERS: dict[str, type[Provider]] = {
    "offline": OfflineProvider,
    "ollama": OllamaProvider,
    "openai": OpenAIProvider,
}


def get_provider(name: str | None = None) -> Provider:
    """The configured provider (``settings.LLM_PROVIDER``), or the one named."""
    return _PROVIDERS[name or settings.LLM_PROVIDER]()


def provider_info() -> dict:
    """``{provider, model, is_llm, note}`` for ``system.info``."""
    return get_provider().info()


def provider_available() -> bool:
    """Whether the configured backend answers right now (offline: always)."""
    return get_provider().available()
