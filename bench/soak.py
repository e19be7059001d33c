"""Soak: many open sockets, concurrent streamed turns and a persona.get load, for a bounded time.

Starts its own server (embedded mode: a temporary SQLite database, migrated and seeded, the
offline responder), then:

1. opens ``--sockets`` authenticated WebSockets that stay idle for the whole run;
2. runs ``--turns`` concurrent loops of streamed ``conversation.send_message`` (each loop its
   own socket and sender, so turns never wait for one another's conversation) and
   ``--getters`` loops of ``persona.get``, for ``--seconds``;
3. checks that a sample of the idle sockets still answers, closes everything.

Prints errors (goal 0), p50/p99 of turns and of persona.get, turns/s, the server's RSS growth
per 10,000 turns (after a warm-up; goal flat) and its open file descriptors before, during and
after. The soft fd limit is raised to the hard limit for this process and the server (each
socket is one descriptor on both sides); with a hard limit below ~2.5 x ``--sockets`` lower
``--sockets`` or raise the limit (``ulimit -Hn``) first.

    .venv/bin/python bench/soak.py                       # 1000 sockets, 100 turns, 60 s
    .venv/bin/python bench/soak.py --seconds 20 --sockets 300 --turns 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rpc_throughput import ROOT, free_port, start


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(wanted, soft)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def prepare(env: dict) -> str:
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], **run)
    subprocess.run([sys.executable, "manage.py", "seed_demo"], **run)
    code = (
        "from personamcp.services import api_key_create; "
        "print(api_key_create(name='soak', scope='write')[1])"
    )
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], text=True, **run)
    return out.stdout.strip().splitlines()[-1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


class Stats:
    def __init__(self) -> None:
        self.turns: list[float] = []
        self.gets: list[float] = []
        self.errors: list[str] = []
        self.chunks = 0


async def call(ws, req_id, method, params, stats: Stats) -> dict | None:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}))
    while True:
        message = json.loads(await ws.recv())
        if message.get("id") == req_id:
            if "error" in message:
                stats.errors.append(f"{method}: {message['error']}")
                return None
            return message["result"]
        if message.get("method") == "conversation.chunk":
            stats.chunks += 1


async def turn_loop(url, headers, n: int, stop_at: float, stats: Stats) -> None:
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        i = 0
        while time.perf_counter() < stop_at:
            i += 1
            params = {
                "persona_id": ("alice", "rook", "pip", "elias")[n % 4],
                "content": f"Tell me about the harbour, turn {i}.",
                "sender": f"soak-{n}",
                "stream": True,
            }
            t0 = time.perf_counter()
            if await call(ws, i, "conversation.send_message", params, stats) is not None:
                stats.turns.append(time.perf_counter() - t0)


async def get_loop(url, headers, stop_at: float, stats: Stats) -> None:
    async with websockets.connect(url, additional_headers=headers) as ws:
        i = 0
        while time.perf_counter() < stop_at:
            i += 1
            t0 = time.perf_counter()
            if await call(ws, i, "persona.get", {"persona_id": "alice"}, stats) is not None:
                stats.gets.append(time.perf_counter() - t0)


def sample(proc: psutil.Process) -> tuple[float, int]:
    return proc.memory_info().rss / 2**20, proc.num_fds()


async def soak(url: str, key: str, server: psutil.Process, args) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    stats = Stats()
    rss0, fds0 = sample(server)
    print(f"server at start: RSS {rss0:.0f} MiB, {fds0} fds")

    idle = []
    t0 = time.perf_counter()
    for batch in range(0, args.sockets, 100):
        opened = await asyncio.gather(
            *(
                websockets.connect(url, additional_headers=headers, open_timeout=60)
                for _ in range(min(100, args.sockets - batch))
            ),
            return_exceptions=True,
        )
        for ws in opened:
            (
                stats.errors.append(f"connect: {ws!r}")
                if isinstance(ws, Exception)
                else idle.append(ws)
            )
    rss1, fds1 = sample(server)
    print(f"{len(idle)} idle sockets open in {time.perf_counter() - t0:.1f} s: "
          f"RSS {rss1:.0f} MiB, {fds1} fds")  # fmt: skip

    # Warm-up (model load, caches) before the measured window.
    warm_stop = time.perf_counter() + args.warmup
    await asyncio.gather(*(turn_loop(url, headers, n, warm_stop, Stats()) for n in range(10)))
    rss_warm, _ = sample(server)

    stop_at = time.perf_counter() + args.seconds
    t0 = time.perf_counter()
    samples = []

    async def watch() -> None:
        while time.perf_counter() < stop_at:
            await asyncio.sleep(max(1.0, args.seconds / 10))
            samples.append((len(stats.turns), sample(server)[0]))

    await asyncio.gather(
        *(turn_loop(url, headers, n, stop_at, stats) for n in range(args.turns)),
        *(get_loop(url, headers, stop_at, stats) for _ in range(args.getters)),
        watch(),
    )
    elapsed = time.perf_counter() - t0
    rss2, fds2 = sample(server)

    alive = 0
    for i, ws in enumerate(idle[:: max(1, len(idle) // 50)]):
        try:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "system.ping"}))
            alive += json.loads(await asyncio.wait_for(ws.recv(), 10))["result"]["pong"] is True
        except Exception as exc:
            stats.errors.append(f"idle socket: {exc!r}")
    checked = len(idle[:: max(1, len(idle) // 50)])
    await asyncio.gather(*(ws.close() for ws in idle), return_exceptions=True)
    await asyncio.sleep(3)
    rss3, fds3 = sample(server)

    turns = len(stats.turns)
    growth = (rss2 - rss_warm) / turns * 10_000 if turns else float("nan")
    print()
    print(f"window {elapsed:.1f} s: {turns} streamed turns ({turns / elapsed:.1f}/s, "
          f"{stats.chunks} chunks), {len(stats.gets)} persona.get ({len(stats.gets) / elapsed:.0f}/s)")  # fmt: skip
    print(f"errors: {len(stats.errors)}")
    for line in stats.errors[:10]:
        print(f"  {line[:200]}")
    print(
        f"turn latency        p50 {pct(stats.turns, 50):8.1f} ms   p99 {pct(stats.turns, 99):8.1f} ms"
    )
    print(
        f"persona.get latency p50 {pct(stats.gets, 50):8.1f} ms   p99 {pct(stats.gets, 99):8.1f} ms"
    )
    print(f"idle sockets answering at the end: {alive}/{checked} sampled")
    print(f"RSS: start {rss0:.0f} MiB, sockets open {rss1:.0f}, after warm-up {rss_warm:.0f}, "
          f"end of load {rss2:.0f}, after close {rss3:.0f} MiB")  # fmt: skip
    print(f"RSS growth per 10,000 turns (after warm-up): {growth:+.1f} MiB")
    if len(samples) >= 3:
        xs = [s[0] for s in samples]
        ys = [s[1] for s in samples]
        slope = statistics.linear_regression(xs, ys).slope if len(set(xs)) > 1 else 0.0
        print(f"RSS trend over the window (linear fit): {slope * 10_000:+.1f} MiB per 10,000 turns")
    print(f"open fds: start {fds0}, with {len(idle)} sockets {fds1}, end of load {fds2}, "
          f"after close {fds3}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--getters", type=int, default=20)
    args = parser.parse_args()
    limit = raise_fd_limit(3 * args.sockets + 500)
    print(f"fd limit (soft) {limit}")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            PERSONAMCP_VAR_DIR=tmp,
            PERSONAMCP_SCHEDULER="0",
            PERSONAMCP_RATE_LIMIT="100000000",
            PERSONAMCP_MAX_TURNS_PER_KEY=str(args.turns + 10),
            LLM_PROVIDER="offline",
            LOG_LEVEL="warning",
        )
        # The exported embedding model is reused from the checkout (no export in the window).
        env.setdefault("EMBEDDING_CACHE_DIR", str(ROOT / "var" / "models"))
        key = prepare(env)
        port = free_port()
        proc = start("daphne", port, env, Path(tmp))
        try:
            asyncio.run(soak(f"ws://127.0.0.1:{port}/mcp", key, psutil.Process(proc.pid), args))
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:  # busy finishing after-turn work: stop it hard
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
