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


class Provider(abc.ABC):
    """One LLM backend: ``stream`` (deltas, cancellable) and ``complete`` (the whole reply)."""

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
        tools: list[dict] | None = None,
    ) -> LLMStream:
        """The reply as deltas. ``tools``: offered actions (``llm.actions`` definitions) the
        backend may call; its calls end up in the stream's ``tool_calls``."""

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
