"""Fixtures of the memory tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_index():
    """Each test starts with empty in-process vector caches (ids may repeat across tests)."""
    from memory import index

    index.clear()
    yield
    index.clear()


@pytest.fixture(autouse=True)
def _accesses_flushed_by_hand(settings):
    """Searches' access updates are written only by ``memory.access.flush()`` in these tests
    (no timer thread racing the test's transaction); none carries over to the next test."""
    from memory import access

    settings.MEMORY = {**settings.MEMORY, "ACCESS_FLUSH_SECONDS": 3600.0}
    access.discard()
    yield
    access.discard()


@pytest.fixture
def memory_settings(settings):
    """``memory_settings(KEY=value, ...)``: override entries of ``settings.MEMORY`` for a test."""

    def apply(**changes):
        settings.MEMORY = {**settings.MEMORY, **changes}
        return settings.MEMORY

    return apply


@pytest.fixture
def alice(demo):
    return demo["alice"]


@pytest.fixture
def store(alice):
    """``store(content, persona=alice, **kw)`` -> Memory, through the real service."""
    from memory.services import memory_store

    def make(content: str, persona=None, **kwargs):
        return memory_store(persona=persona or alice, content=content, **kwargs)

    return make


@pytest.fixture
def fake_llm(settings):
    """A fake Ollama server on 127.0.0.1 configured as the LLM provider."""
    from tests.conversations.fakes import FakeLLMServer

    with FakeLLMServer("ollama") as server:
        settings.LLM_PROVIDER = "ollama"
        settings.OLLAMA_URL = server.url
        settings.LLM_MODEL = "fake-model"
        yield server
