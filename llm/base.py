"""The provider interface every LLM backend implements, and the stream it returns."""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings


def estimate_tokens(text: str) -> int:
    """Rough token count (about four characters per token), used when a backend gives none."""
    return max(1, (len(text) + 3) // 4) if text else 0


def messages_tokens(messages: list[dict]) -> int:
    """Estimated prompt size of a chat message list (content plus a little per message)."""
    return sum(estimate_tokens(m.get("content", "")) + 4 for m in messages)


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0}


@dataclass
class LLMStream:
    """An iterator of text deltas; ``usage`` and ``text`` are complete once it is exhausted.

    ``cancelled`` is True when iteration stopped because the cancel event was set.
    """

    _chunks: Iterator[str]
    usage: dict[str, int] = field(default_factory=_zero_usage)
    text: str = ""
    cancelled: bool = False
    # Native tool calls of the reply (``{name, arguments}``; arguments an object or a JSON
    # string), complete once the stream is exhausted; checked by ``llm.actions``.
    tool_calls: list[dict] = field(default_factory=list)

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

    def fill_usage(self, messages: list[dict]) -> None:
        """Estimate what the backend did not count."""
        if not self.usage.get("completion_tokens"):
            self.usage["completion_tokens"] = estimate_tokens(self.text)
        if not self.usage.get("prompt_tokens"):
            self.usage["prompt_tokens"] = messages_tokens(messages)


@dataclass(frozen=True)
class Request:
    """One generation request, as ``Provider.stream`` takes it."""

    messages: list[dict]
    cancel_event: threading.Event | None
    max_tokens: int | None
    temperature: float | None
    hints: dict
    tools: list[dict]


class Provider(abc.ABC):
    """One LLM backend: ``stream`` (deltas, cancellable) and ``complete`` (the whole reply)."""

    name = "base"
    is_llm = True

    @property
    def model(self) -> str:
        return settings.LLM_MODEL

    def stream(
        self,
        messages: list[dict],
        *,
        cancel_event: threading.Event | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        hints: dict | None = None,
        tools: list[dict] | None = None,
    ) -> LLMStream:
        """The reply as deltas. ``tools``: offered actions (``llm.actions`` definitions) the
        backend may call; its calls end up in the stream's ``tool_calls``."""
        return self.open(
            Request(messages, cancel_event, max_tokens, temperature, hints or {}, tools or [])
        )

    @abc.abstractmethod
    def open(self, request: Request) -> LLMStream:
        """``stream`` of one backend: the request's reply as deltas."""

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        hints: dict | None = None,
    ) -> str:
        """The whole reply as one string."""
        return self.answer(Request(messages, None, max_tokens, temperature, hints or {}, []))

    def answer(self, request: Request) -> str:
        """``complete`` of one backend; by default its streamed reply, joined."""
        return "".join(self.open(request))

    def available(self) -> bool:
        return True

    def info(self) -> dict:
        return {"provider": self.name, "model": self.model, "is_llm": self.is_llm, "note": ""}


class HoldBackStream:
    """An ``LLMStream`` over ``inner`` that streams the text before the first of ``markers``.

    Text that could be the start of a marker is held back until it is known not to be one, so
    a marker is never streamed. Where one is found, ``marker_at`` is its offset in ``raw`` and
    nothing after it is streamed; ``read_past_marker`` says whether the inner stream is still
    read to its end (to parse what follows the marker) or closed at once. ``ended()`` runs when
    the inner stream is exhausted.
    """

    read_past_marker = False

    def __init__(self, inner: LLMStream, markers: list[str]):
        self.inner = inner
        self.markers = [m for m in markers if m]
        self.raw = ""
        self.sent = 0
        self.marker_at: int | None = None
        self.done = False

    @property
    def cancelled(self) -> bool:
        return self.inner.cancelled

    def __iter__(self) -> Iterator[str]:
        return self

    def close(self) -> None:
        self.inner.close()

    def ended(self) -> None:
        """The inner stream is exhausted (``raw`` is complete)."""

    def _held_back(self) -> int:
        """Length of the longest end of ``raw`` that is a proper prefix of a marker."""
        longest = 0
        for marker in self.markers:
            for n in range(min(len(marker) - 1, len(self.raw)), longest, -1):
                if self.raw.endswith(marker[:n]):
                    longest = n
                    break
        return longest

    def _find_marker(self) -> int | None:
        window = max(0, self.sent - max(map(len, self.markers), default=0))
        hits = [i for i in (self.raw.find(m, window) for m in self.markers) if i >= 0]
        return min(hits) if hits else None

    def _take(self, end: int) -> str:
        """The unsent text up to ``end`` (none when ``end`` is not past what was sent)."""
        if end <= self.sent:
            return ""
        out = self.raw[self.sent : end]
        self.sent = end
        return out

    def __next__(self) -> str:
        while not self.done:
            try:
                delta = next(self.inner)
            except StopIteration:
                self.done = True
                self.ended()
                rest = self._take(len(self.raw))
                if rest and self.marker_at is None:
                    return rest
                break
            self.raw += delta
            if self.marker_at is not None:
                continue
            self.marker_at = self._find_marker()
            if self.marker_at is not None:
                if not self.read_past_marker:
                    self.done = True
                    self.inner.close()
                out = self._take(self.marker_at)
                if out:
                    return out
                continue
            out = self._take(len(self.raw) - self._held_back())
            if out:
                return out
        raise StopIteration
