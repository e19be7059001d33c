"""The per-message cost of the /mcp stack itself, without sockets or a server.

    .venv/bin/python bench/rpc_inprocess.py [--messages 20000] [--method persona.get]

Drives the real ASGI application (origin check, sessions, API-key auth, the consumer, the
dispatcher, the read cache) with ``websocket.receive`` messages from an in-memory queue in one
event loop, one request in flight, and prints the CPU microseconds per request/response. A bare
ASGI echo (``bench/asgi_echo.py``) driven the same way is the floor. No network and no load
generator share the CPU, so the figure holds on a loaded machine far better than the socket
benchmark (``rpc_throughput.py``), and it is what the consumer and dispatcher changes of
issue 16 were measured with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def drive(app, headers, frames: list[str]) -> float:
    """CPU seconds of this process per round trip of ``frames`` through ``app`` on one
    connection (CPU time, not wall time: other load on the machine does not count)."""
    inbox: asyncio.Queue = asyncio.Queue()
    replies: asyncio.Queue = asyncio.Queue()

    async def receive():
        return await inbox.get()

    async def send(message):
        await replies.put(message)

    scope = {
        "type": "websocket",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "headers": headers,
        "query_string": b"",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "scheme": "ws",
    }
    task = asyncio.create_task(app(scope, receive, send))
    await inbox.put({"type": "websocket.connect"})
    accepted = await replies.get()
    assert accepted["type"] == "websocket.accept", accepted
    for frame in frames[:200]:  # warm-up: caches filled, code paths hot
        await inbox.put({"type": "websocket.receive", "text": frame})
        await replies.get()
    started = time.process_time()
    for frame in frames:
        await inbox.put({"type": "websocket.receive", "text": frame})
        reply = await replies.get()
    elapsed = time.process_time() - started
    assert "error" not in json.loads(reply["text"]), reply
    await inbox.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 10)
    return elapsed / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--method", default="persona.get")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="pmcp-inproc-")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        PERSONAMCP_VAR_DIR=tmp,
        EMBEDDING_CACHE_DIR=str(ROOT / "var" / "models"),
        PERSONAMCP_SCHEDULER="0",
        PERSONAMCP_WARMUP="0",
        PERSONAMCP_RATE_LIMIT=str(10**9),
        PERSONAMCP_DEV_MODE="0",
        SECRET_KEY="bench-only-secret-key-not-for-production-0123456789",
        DJANGO_SETTINGS_MODULE="personamcp.settings",
        LOG_LEVEL="warning",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    from personamcp.services import api_key_create

    key = api_key_create(name="bench", scope="read")[1]
    from bench.asgi_echo import app as echo_app
    from personamcp.asgi import application

    params = {"persona_id": "alice"} if args.method == "persona.get" else {}
    frames = [
        json.dumps({"jsonrpc": "2.0", "id": i, "method": args.method, "params": params})
        for i in range(args.messages)
    ]
    headers = [(b"authorization", f"Bearer {key}".encode()), (b"host", b"127.0.0.1:8000")]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    floor = runner(drive(echo_app, headers, frames))
    mcp = runner(drive(application, headers, frames))
    print(f"in-process {args.method}, {args.messages} round trips, one connection:")
    print(f"  bare ASGI echo   {floor * 1e6:7.1f} us CPU per request")
    print(f"  /mcp stack       {mcp * 1e6:7.1f} us CPU per request  ({mcp / floor:.1f} x the echo)")
    print("RESULT " + json.dumps({"echo_us": floor * 1e6, "mcp_us": mcp * 1e6}))


if __name__ == "__main__":
    main()
