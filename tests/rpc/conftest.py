"""Fixtures for the protocol tests: async key creation, raw communicators, test-only methods."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async

from personamcp.exceptions import Forbidden
from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import registry, rpc_method
from personamcp.schemas import Params

# Test-only methods, registered once when this conftest is imported (names start with "test.").
SLOW_STARTED = threading.Event()
CANCEL_SEEN = threading.Event()


class SleepParams(Params):
    seconds: float = 1.0


if registry.get("test.slow_sync") is None:

    @rpc_method("test.slow_sync", params=SleepParams, public=True)
    def slow_sync(ctx: RpcContext, params: SleepParams) -> dict:
        """Test only: block a worker thread until cancelled or the time is up."""
        SLOW_STARTED.set()
        cancelled = ctx.cancel_event.wait(params.seconds)
        if cancelled:
            CANCEL_SEEN.set()
        return {"slept": params.seconds, "cancelled": cancelled}

    @rpc_method("test.slow_async", params=SleepParams, public=True)
    async def slow_async(ctx: RpcContext, params: SleepParams) -> dict:
        """Test only: sleep on the event loop without blocking it."""
        await asyncio.sleep(params.seconds)
        return {"slept": params.seconds}

    @rpc_method("test.crash", public=True)
    def crash(ctx: RpcContext, params: Params) -> dict:
        """Test only: an unexpected exception inside a handler."""
        raise RuntimeError("secret internal detail /etc/passwd")

    @rpc_method("test.forbidden", public=True)
    async def forbidden(ctx: RpcContext, params: Params) -> dict:
        """Test only: a domain error raised by a handler."""
        raise Forbidden("no")


@pytest.fixture
def akey(make_key):
    """``await akey(scope, personas)`` -> a raw API key (usable from async tests)."""

    async def make(scope: str = "write", personas=None) -> str:
        return await sync_to_async(make_key)(scope, personas)

    return make


@pytest.fixture
async def raw_ws():
    """``await raw_ws(headers=..., subprotocols=..., path=...)`` -> (communicator, connected, sub)."""
    from channels.testing import WebsocketCommunicator

    from personamcp.asgi import application

    opened = []

    async def connect(headers=None, subprotocols=None, path="/mcp"):
        communicator = WebsocketCommunicator(
            application, path, headers=headers or [], subprotocols=subprotocols
        )
        connected, sub = await communicator.connect()
        opened.append(communicator)
        return communicator, connected, sub

    yield connect
    for communicator in opened:
        await communicator.disconnect()


@pytest.fixture
def limits(settings):
    """``limits(MAX_BATCH=3, ...)`` overrides entries of settings.PERSONAMCP for one test."""

    def set_limits(**values):
        settings.PERSONAMCP = {**settings.PERSONAMCP, **values}

    return set_limits
