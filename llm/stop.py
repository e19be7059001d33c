"""Stop sequences (OpenAI ``stop``) over any provider's stream."""

from __future__ import annotations

from llm.base import HoldBackStream, estimate_tokens


class StopAtSequences(HoldBackStream):
    """An ``LLMStream`` that ends before the first of the ``stop`` sequences (OpenAI ``stop``).

    Text that could be the start of a stop sequence is held back until it is known not to be
    one, so a stop sequence is never streamed; the backend's generation is closed when one is
    found. ``StopAtSequences(inner, stop)``.
    """

    @property
    def text(self) -> str:
        return self.raw[: self.sent] if self.done else self.raw

    @property
    def usage(self) -> dict:
        usage = dict(self.inner.usage)
        if self.done or not usage.get("completion_tokens"):
            usage["completion_tokens"] = estimate_tokens(self.text)
        return usage
