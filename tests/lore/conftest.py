"""Fixtures for lorebook tests: a JSON-RPC caller over POST /mcp, the team's cards."""

from __future__ import annotations

import pytest

from tests.lore import cards


@pytest.fixture
def rpc(rpc_http):
    return rpc_http


@pytest.fixture
def team_cards():
    return cards
