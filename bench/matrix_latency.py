"""Matrix bot latency: the human's ``room_send`` -> the bot's reply in the human's sync.

Starts a throw-away Synapse on loopback (scripts/synapse.py), a fresh SQLite database with the
demo personas, and ``manage.py runbot alice`` with the offline responder; a human (matrix-nio)
sends N messages in a direct room and waits for each reply in its own sync loop, first in an
unencrypted room, then in an end-to-end encrypted one, then in an unencrypted room bridged to
a Persona-MCP room (the message goes through the bridge's claim, ``room.send`` and the outbox;
same run, same bot process). For comparison, the same number of turns through ``conversation.send_message`` over the /mcp
WebSocket of a real daphne server on the same database, and the floor of a Matrix round trip
on this homeserver: the same messages to a bare matrix-nio client that echoes each at once.

    .venv/bin/python bench/matrix_latency.py [--messages 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from synapse import Synapse, free_port  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} n={len(values):3d}  p50={pct(values, 0.5):7.1f} ms  "
        f"p95={pct(values, 0.95):7.1f} ms  mean={statistics.mean(values):7.1f} ms"
    )


def manage(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        **kwargs,
    )


def bridge(env: dict, matrix_room: str) -> None:
    """Link a new Persona-MCP room (alice alone) to ``matrix_room``."""
    script = (
        "from bots import bridges; from personas.models import Persona;"
        "from rooms.services import room_create;"
        "room = room_create(name='bench', personas=[Persona.objects.get(slug='alice')]);"
        f"bridges.bridge_set(room=room, matrix_room_id='{matrix_room}')"
    )
    manage(env, "shell", "-c", script)


async def matrix_round_trips(
    hs: Synapse,
    bot_user: str,
    count: int,
    *,
    encrypted: bool,
    store: Path,
    bridge_env: dict | None = None,
) -> list[float]:
    from nio import AsyncClient, AsyncClientConfig, RoomMessageText

    name = f"bench{uuid.uuid4().hex[:6]}"
    hs.register(name, "bench-pw")
    store.mkdir(parents=True, exist_ok=True)
    config = AsyncClientConfig(encryption_enabled=encrypted)
    human = AsyncClient(hs.url, hs.user_id(name), store_path=str(store), config=config)
    await human.login("bench-pw")
    state = []
    if encrypted:
        state = [
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        ]
    created = await human.room_create(invite=[bot_user], is_direct=True, initial_state=state)
    room = created.room_id
    await human.sync(timeout=0)
    # Wait until the bot has joined.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        members = await human.joined_members(room)
        if any(m.user_id == bot_user for m in members.members):
            break
        await asyncio.sleep(0.1)
    else:
        raise SystemExit("the bot did not join")
    if bridge_env is not None:
        await asyncio.to_thread(bridge, bridge_env, room)
        await asyncio.sleep(3)  # the bot reads its bridges at its next heartbeat (1 s)
    replies: asyncio.Queue = asyncio.Queue()

    def on_message(room_obj, event) -> None:
        if event.sender == bot_user and room_obj.room_id == room:
            replies.put_nowait(time.perf_counter())

    human.add_event_callback(on_message, RoomMessageText)
    syncer = asyncio.create_task(human.sync_forever(timeout=30000))
    await asyncio.sleep(0.5)

    async def send(body: str) -> None:
        content = {"msgtype": "m.text", "body": body}
        await human.room_send(room, "m.room.message", content, ignore_unverified_devices=True)

    # One warm-up turn (loads the embedding model in the bot process; shares the room key).
    await send("Hello there!")
    await asyncio.wait_for(replies.get(), 60)
    timings = []
    for i in range(count):
        start = time.perf_counter()
        await send(f"Question {i}: what do you think about the weather today?")
        arrived = await asyncio.wait_for(replies.get(), 30)
        timings.append((arrived - start) * 1000)
    syncer.cancel()
    await human.close()
    return timings


async def echo_round_trips(hs: Synapse, count: int, store: Path) -> list[float]:
    """The floor of a Matrix round trip on this homeserver: the same measurement against a
    bare matrix-nio client that joins when invited and answers every message at once with a
    copy (no persona, no turn): the human's send, the echo's sync, its send, the human's sync."""
    from nio import AsyncClient, InviteMemberEvent, RoomMessageText

    name = f"echo{uuid.uuid4().hex[:6]}"
    hs.register(name, "echo-pw")
    echo = AsyncClient(hs.url, hs.user_id(name))
    await echo.login("echo-pw")
    await echo.sync(timeout=0)  # from now on: only new events

    async def on_invite(room, event) -> None:
        if event.state_key == echo.user_id and event.membership == "invite":
            await echo.join(room.room_id)

    async def on_message(room, event) -> None:
        if event.sender != echo.user_id:
            content = {"msgtype": "m.text", "body": event.body}
            await echo.room_send(room.room_id, "m.room.message", content)

    echo.add_event_callback(on_invite, InviteMemberEvent)
    echo.add_event_callback(on_message, RoomMessageText)
    syncer = asyncio.create_task(echo.sync_forever(timeout=30000))
    try:
        return await matrix_round_trips(hs, echo.user_id, count, encrypted=False, store=store)
    finally:
        syncer.cancel()
        await echo.close()


async def rpc_round_trips(url: str, key: str, count: int) -> list[float]:
    import websockets

    timings = []
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        for i in range(count + 1):
            request = {
                "jsonrpc": "2.0",
                "id": i,
                "method": "conversation.send_message",
                "params": {
                    "persona_id": "alice",
                    "sender": "@bench-rpc:localhost",
                    "content": f"Question {i}: what do you think about the weather today?",
                },
            }
            start = time.perf_counter()
            await ws.send(json.dumps(request))
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == i:
                    break
            assert "result" in message, message
            if i:  # the first call is the warm-up
                timings.append((time.perf_counter() - start) * 1000)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="matrix-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "PERSONAMCP_VAR_DIR": str(workdir),
            "EMBEDDING_CACHE_DIR": str(ROOT / "var" / "models"),
            "PERSONAMCP_SCHEDULER": "0",
            "LLM_PROVIDER": "offline",
            "HF_HUB_OFFLINE": "1",
            # The per-room loop guard would (rightly) throttle 50 messages a minute.
            "PERSONAMCP_BOT_ROOM_RATE": "10000",
            "PERSONAMCP_BOT_HEARTBEAT": "1",
        }
    )
    procs: list[subprocess.Popen] = []
    with Synapse() as hs:
        try:
            manage(env, "migrate", "-v0")
            manage(env, "seed_demo")
            bot_name = f"alice{uuid.uuid4().hex[:6]}"
            hs.register(bot_name, "bot-pw")
            script = (
                "from bots import services; from personas.models import Persona;"
                "from personamcp.services import api_key_create;"
                f"services.bot_create(persona=Persona.objects.get(slug='alice'), homeserver='{hs.url}',"
                f" user_id='{hs.user_id(bot_name)}', password='bot-pw');"
                "print(api_key_create(name='bench', scope='write')[1])"
            )
            key = manage(env, "shell", "-c", script).stdout.strip().splitlines()[-1]
            procs.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "runbot", "alice", "--no-console"],
                    cwd=ROOT,
                    env=env,
                    start_new_session=True,
                )
            )
            bot_user = hs.user_id(bot_name)
            # Both cases in the same run, against the same bot process.
            plain = asyncio.run(
                matrix_round_trips(
                    hs, bot_user, args.messages, encrypted=False, store=workdir / "human-plain"
                )
            )
            secret = asyncio.run(
                matrix_round_trips(
                    hs, bot_user, args.messages, encrypted=True, store=workdir / "human-e2ee"
                )
            )
            bridged = asyncio.run(
                matrix_round_trips(
                    hs,
                    bot_user,
                    args.messages,
                    encrypted=False,
                    store=workdir / "human-bridged",
                    bridge_env=env,
                )
            )

            floor = asyncio.run(echo_round_trips(hs, args.messages, workdir / "human-echo"))

            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "daphne",
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "personamcp.asgi:application",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            rpc = asyncio.run(rpc_round_trips(f"ws://127.0.0.1:{port}/mcp", key, args.messages))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
    print(f"Matrix bot latency, Synapse on loopback, offline responder, {args.messages} messages")
    print(summary("unencrypted room -> reply in sync", plain))
    print(summary("encrypted room -> decrypted reply", secret))
    print(summary("bridged room -> persona's reply", bridged))
    print(summary("conversation.send_message (/mcp)", rpc))
    print(summary("echo client (Matrix floor)", floor))
    for label, values in (("unencrypted", plain), ("encrypted", secret), ("bridged", bridged)):
        print(
            f"{label:<12} over the turn itself (/mcp): "
            f"p50 +{pct(values, 0.5) - pct(rpc, 0.5):.1f} ms "
            f"(x{pct(values, 0.5) / pct(rpc, 0.5):.2f}), "
            f"p95 +{pct(values, 0.95) - pct(rpc, 0.95):.1f} ms "
            f"(x{pct(values, 0.95) / pct(rpc, 0.95):.2f})"
        )
    print(
        f"the bot over the Matrix floor + the turn: p50 "
        f"{pct(plain, 0.5) - pct(floor, 0.5) - pct(rpc, 0.5):+.1f} ms, p95 "
        f"{pct(plain, 0.95) - pct(floor, 0.95) - pct(rpc, 0.95):+.1f} ms"
    )
    print(
        f"encryption costs p50 {pct(secret, 0.5) - pct(plain, 0.5):+.1f} ms, "
        f"p95 {pct(secret, 0.95) - pct(plain, 0.95):+.1f} ms per round trip"
    )
    print(
        f"the bridge costs p50 {pct(bridged, 0.5) - pct(plain, 0.5):+.1f} ms, "
        f"p95 {pct(bridged, 0.95) - pct(plain, 0.95):+.1f} ms per round trip"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
