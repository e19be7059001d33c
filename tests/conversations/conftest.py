"""Fixtures of the conversation tests: fake LLM servers and provider settings."""

from __future__ import annotations

import pytest

from tests.conversations.fakes import FakeLLMServer


@pytest.fixture
def fake_ollama(settings):
    """A fake Ollama server, configured as the LLM provider."""
    with FakeLLMServer("ollama") as server:
        settings.LLM_PROVIDER = "ollama"
        settings.OLLAMA_URL = server.url
        settings.LLM_MODEL = "fake-model"
        yield server


@pytest.fixture
def fake_openai(settings):
    """A fake OpenAI-compatible server, configured as the LLM provider."""
    with FakeLLMServer("openai") as server:
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = server.url
        settings.OPENAI_API_KEY = "sk-test-123"
        settings.LLM_MODEL = "fake-model"
        yield server
