"""Stop sequences (OpenAI ``stop``) over any provider's stream."""

from __future__ import annotations

from collections.abc import Iterator

from llm.base import LLMStream, estimate_tokens


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
