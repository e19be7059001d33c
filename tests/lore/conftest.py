"""Fixtures for lorebook tests: a JSON-RPC caller over POST /mcp, the team's cards."""

from __future__ import annotations

import pytest

from tests.conversations.conftest import fake_openai  # noqa: F401  (a fixture)
from tests.lore import cards


@pytest.fixture
def rpc(rpc_http):
    return rpc_http


@pytest.fixture
def team_cards():
    return cards


@pytest.fixture
def wire(fake_openai, settings):  # noqa: F811
    """The fake OpenAI-compatible LLM; ``wire.requests`` is what it received."""
    settings.CONVERSATION_MEMORY_LIMIT = 0
    return fake_openai
