"""Fixtures of the goal, trigger, action and expression tests."""

from __future__ import annotations

import pytest

from tests.conversations.conftest import fake_ollama, fake_openai  # noqa: F401  (fixtures)


@pytest.fixture
def rpc(demo, rpc_http):
    """``rpc(method, params)`` over POST /mcp; the demo personas exist."""
    return rpc_http


@pytest.fixture
def wire(fake_openai, settings):  # noqa: F811
    """The fake OpenAI-compatible LLM; ``wire.requests`` is what it received."""
    settings.CONVERSATION_MEMORY_LIMIT = 0
    return fake_openai


def chat_requests(fake) -> list[dict]:
    """The chat turns the fake LLM received (not classifier or appraisal questions)."""
    return [r["body"] for r in fake.requests if r["body"].get("stream")]


def system_prompt(body: dict) -> str:
    return body["messages"][0]["content"]
