"""App-neutral LLM providers behind one interface, chosen by ``settings.LLM_PROVIDER``.

* ``offline``: the built-in deterministic responder (``llm.offline``), not a language model.
* ``ollama``: Ollama through the official ``ollama`` client (``llm.ollama_provider``).
* ``openai``: any OpenAI-compatible server through the official ``openai`` client
  (``llm.openai_provider``).

Every provider offers ``complete(messages) -> str`` and ``stream(messages) -> LLMStream`` (an
iterator of text deltas whose ``usage`` is filled once it is exhausted; a ``cancel_event``
stops it, even while a read is blocked). Backend failures become ``LLMUnavailable`` (-32010)
and slow backends ``LLMTimeout`` (-32011), with ``LLM_CONNECT_TIMEOUT`` / ``LLM_TIMEOUT``; a
connection that cannot be opened is retried once. Any app (conversations, memory, rooms)
imports this package for its LLM calls.
"""

from __future__ import annotations

from django.conf import settings

from llm.base import LLMStream, Provider, estimate_tokens, messages_tokens
from llm.exceptions import LLMError, LLMTimeout, LLMUnavailable

__all__ = [
    "LLMError",
    "LLMStream",
    "LLMTimeout",
    "LLMUnavailable",
    "Provider",
    "estimate_tokens",
    "get_provider",
    "messages_tokens",
    "provider_available",
    "provider_info",
]


def _provider_class(name: str) -> type[Provider]:
    # Imported on demand: the offline mode never loads the HTTP client libraries.
    if name == "ollama":
        from llm.ollama_provider import OllamaProvider

        return OllamaProvider
    if name == "openai":
        from llm.openai_provider import OpenAIProvider

        return OpenAIProvider
    if name == "offline":
        from llm.offline import OfflineProvider

        return OfflineProvider
    raise ValueError(f"unknown LLM provider: {name}")


def get_provider(name: str | None = None) -> Provider:
    """The configured provider (``settings.LLM_PROVIDER``), or the one named."""
    return _provider_class(name or settings.LLM_PROVIDER)()


def provider_info() -> dict:
    """``{provider, model, is_llm, note}`` for ``system.info``."""
    return get_provider().info()


def provider_available() -> bool:
    """Whether the configured backend answers right now (offline: always)."""
    return get_provider().available()
