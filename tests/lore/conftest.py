"""Fixtures for lorebook and card tests: a JSON-RPC caller over POST /mcp, the team's cards."""

from __future__ import annotations

import json

import pytest

from tests.lore import cards


@pytest.fixture
def rpc(make_key):
    """``rpc(method, params)`` -> the JSON-RPC response over the real HTTP door."""
    from django.test import Client

    key = make_key("write")
    client = Client()
    counter = {"n": 0}

    def call(method: str, params: dict | None = None, *, token: str | None = None) -> dict:
        counter["n"] += 1
        body = {"jsonrpc": "2.0", "id": counter["n"], "method": method, "params": params or {}}
        response = client.post(
            "/mcp",
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token or key}"},
        )
        assert response.status_code == 200, response.content
        data = response.json()
        if "error" in data and data["error"]["code"] == -32603:
            raise AssertionError(data)
        return data

    return call


@pytest.fixture
def team_cards():
    return cards
