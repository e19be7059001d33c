"""Soak: many open sockets, concurrent streamed turns and a persona.get load, for a bounded time.

Starts its own server (embedded mode: a temporary SQLite database, migrated and seeded, the
offline responder), then:

1. opens ``--sockets`` authenticated WebSockets that stay idle for the whole run;
2. runs ``--turns`` concurrent loops of streamed ``conversation.send_message`` (each loop its
   own socket and sender, so turns never wait for one another's conversation) and
   ``--getters`` loops of ``persona.get``, for ``--seconds``;
3. checks that a sample of the idle sockets still answers, closes everything.

Prints errors (goal 0), p50/p99 of turns and of persona.get, turns/s, the RSS of one idle
socket, open file descriptors before, during and after, and the server's RSS growth per 10,000
turns after a warm-up (goal flat): raw, and net of the in-process memory index (every turn
stores an episodic memory: its vector, codes and, past ``MEMORY_ANN_MIN`` rows, graph links are
expected growth, measured inside the server), over the window and over its second half (the
steady state). The figures come from a small probe loaded into the server through PYTHONPATH
(``bench/probe/sitecustomize.py``; signals, no server code involved), which can also count the
objects grown by type (``--objects``) or run tracemalloc (``--trace N``, slow). The soft fd limit
is raised to the hard limit for this process and the server (each socket is one descriptor on
both sides); with a hard limit below ~2.5 x ``--sockets`` lower ``--sockets`` or raise the
limit (``ulimit -Hn``) first.

    .venv/bin/python bench/soak.py                # 1000 sockets, 100 turns, 20 getters, 60 s
    .venv/bin/python bench/soak.py --short        # 200 sockets, 20 turns, 4 getters, 20 s
    .venv/bin/python bench/soak.py --short --seconds 300 --objects
    MALLOC_ARENA_MAX=2 .venv/bin/python bench/soak.py    # compare glibc's arena count
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
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

# A saturated (or traced) server may answer pings late: a late pong is latency, not an error.
KEEPALIVE = {"ping_interval": 30, "ping_timeout": 120}


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


async def connect(url, headers, stats: Stats, **options):
    """A socket, or None with the refusal counted (daphne rejects a handshake with 403 when
    the application does not accept it within its connect timeout, 5 s, on a saturated box)."""
    try:
        return await websockets.connect(url, additional_headers=headers, **KEEPALIVE, **options)
    except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
        stats.errors.append(f"connect: {exc!r}")
        return None


async def turn_loop(url, headers, n: int, stop_at: float, stats: Stats, least: int = 0) -> None:
    if (ws := await connect(url, headers, stats, max_size=None)) is None:
        return
    async with ws:
        i = 0
        while time.perf_counter() < stop_at or i < least:
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
    if (ws := await connect(url, headers, stats)) is None:
        return
    async with ws:
        i = 0
        while time.perf_counter() < stop_at:
            i += 1
            t0 = time.perf_counter()
            if await call(ws, i, "persona.get", {"persona_id": "alice"}, stats) is not None:
                stats.gets.append(time.perf_counter() - t0)


def sample(proc: psutil.Process) -> tuple[float, int]:
    return proc.memory_info().rss / 2**20, proc.num_fds()


class Probe:
    """The server-side half (bench/probe/sitecustomize.py): one JSON line per signal."""

    def __init__(self, proc: psutil.Process, path: Path) -> None:
        self.proc, self.path, self.seen = proc, path, 0

    async def ask(self, sig: int = signal.SIGUSR1, timeout: float = 120.0) -> dict:
        self.proc.send_signal(sig)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            lines = self.path.read_text().splitlines() if self.path.exists() else []
            if len(lines) > self.seen:
                self.seen = len(lines)
                return json.loads(lines[-1])
            await asyncio.sleep(0.2)
        raise RuntimeError("the server's memory probe did not answer")


def per_10k(delta: float, turns: int) -> float:
    return delta / turns * 10_000 if turns else float("nan")


def trend(points: list[tuple[int, float]]) -> float:
    """MiB per 10,000 turns of a least-squares line through (turns, MiB) points."""
    xs = [x for x, _ in points]
    if len(points) < 3 or len(set(xs)) < 2:
        return float("nan")
    return statistics.linear_regression(xs, [y for _, y in points]).slope * 10_000


async def soak(url: str, key: str, server: psutil.Process, probe: Probe, args) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    stats = Stats()
    # One turn first: the embedding model loads (in the background from start) before the
    # idle sockets are counted, so their own cost is seen.
    await asyncio.wait_for(turn_loop(url, headers, 0, time.perf_counter(), Stats(), 1), 300)
    rss0, fds0 = sample(server)
    print(f"server after its first turn: RSS {rss0:.0f} MiB, {fds0} fds")

    idle = []
    t0 = time.perf_counter()
    for batch in range(0, args.sockets, 100):
        opened = await asyncio.gather(
            *(
                websockets.connect(url, additional_headers=headers, open_timeout=60, **KEEPALIVE)
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
    per_socket = (rss1 - rss0) * 1024 / len(idle) if idle else float("nan")
    print(f"{len(idle)} idle sockets open in {time.perf_counter() - t0:.1f} s: "
          f"RSS {rss1:.0f} MiB ({per_socket:.0f} KiB per socket), {fds1} fds")  # fmt: skip

    # Warm-up (model load, caches, thread pools) before the measured window.
    warm_stop = time.perf_counter() + args.warmup
    await asyncio.gather(
        *(turn_loop(url, headers, n, warm_stop, Stats()) for n in range(args.turns))
    )
    warm = await probe.ask()
    print(f"after warm-up: RSS {warm['rss_mib']:.0f} MiB, memory index "
          f"{warm['index_mib']:.1f} MiB ({warm['index_rows']} rows), {warm['threads']} threads")  # fmt: skip

    stop_at = time.perf_counter() + args.seconds
    t0 = time.perf_counter()
    points: list[tuple[int, dict]] = [(0, warm)]

    async def watch() -> None:
        while time.perf_counter() < stop_at - 1:
            await asyncio.sleep(min(max(1.0, args.seconds / 10), stop_at - time.perf_counter()))
            points.append((len(stats.turns), await probe.ask()))

    await asyncio.gather(
        *(turn_loop(url, headers, n, stop_at, stats) for n in range(args.turns)),
        *(get_loop(url, headers, stop_at, stats) for _ in range(args.getters)),
        watch(),
    )
    elapsed = time.perf_counter() - t0
    turns = len(stats.turns)
    end = await probe.ask()
    points.append((turns, end))
    _, fds2 = sample(server)

    alive = 0
    checked = idle[:: max(1, len(idle) // 50)]
    for i, ws in enumerate(checked):
        try:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "system.ping"}))
            alive += json.loads(await asyncio.wait_for(ws.recv(), 10))["result"]["pong"] is True
        except Exception as exc:
            stats.errors.append(f"idle socket: {exc!r}")
    await asyncio.gather(*(ws.close() for ws in idle), return_exceptions=True)
    await asyncio.sleep(3)
    closed = await probe.ask()
    _, fds3 = sample(server)
    trim = await probe.ask(signal.SIGUSR2)

    raw = end["rss_mib"] - warm["rss_mib"]
    index = end["index_mib"] - warm["index_mib"]
    stored = end["index_rows"] - warm["index_rows"]
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
    print(f"idle sockets answering at the end: {alive}/{len(checked)} sampled")
    print(f"RSS: first turn {rss0:.0f} MiB, sockets open {rss1:.0f}, after warm-up {warm['rss_mib']:.0f}, "
          f"end of load {end['rss_mib']:.0f}, after close {closed['rss_mib']:.0f}, after "
          f"malloc_trim {trim['trim_after_mib']:.0f} MiB")  # fmt: skip
    print(f"memory index: +{stored} rows stored in the window, +{index:.1f} MiB "
          f"({index * 2**20 / stored if stored else 0:.0f} B per stored memory: vectors, codes and graph links)")  # fmt: skip
    print(f"RSS growth per 10,000 turns (after warm-up): raw {per_10k(raw, turns):+.1f} MiB, "
          f"net of the memory index {per_10k(raw - index, turns):+.1f} MiB")  # fmt: skip
    raw_fit = trend([(n, r["rss_mib"]) for n, r in points])
    net_fit = trend([(n, r["rss_mib"] - r["index_mib"]) for n, r in points])
    print(f"RSS trend over the window (linear fit, {len(points)} points): raw {raw_fit:+.1f}, "
          f"net {net_fit:+.1f} MiB per 10,000 turns")  # fmt: skip
    print(f"open fds: start {fds0}, with {len(idle)} sockets {fds1}, end of load {fds2}, "
          f"after close {fds3}; open SQLite connections by thread at the end of load "
          f"{end.get('sqlite')}, after close {closed.get('sqlite')}")  # fmt: skip
    half = [(n, r["rss_mib"] - r["index_mib"]) for n, r in points if n >= turns / 2]
    print(
        f"net RSS trend over the second half of the window: {trend(half):+.1f} MiB per "
        "10,000 turns (the steady state, past the warm-up's growth)"
    )
    print("over the window (turns: net RSS MiB / threads / queued after-turn jobs):",
          ", ".join(f"{n}: {r['rss_mib'] - r['index_mib']:.0f}/{r['threads']}/{r['jobs_pending']}"
                    for n, r in points))  # fmt: skip
    if end.get("top"):
        print("\nallocation sites grown since the warm-up (tracemalloc):")
        for row in end["top"][:15]:
            print(
                f"  {row['kib']:+10.1f} KiB {row['count']:+8d}  {' <- '.join(row['where'][::-1])}"
            )
    if end.get("types"):
        print("live objects grown by type since the warm-up:", end["types"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--getters", type=int, default=20)
    parser.add_argument(
        "--short", action="store_true", help="a quick run: 20 s, 200 sockets, 20 turns, 4 getters"
    )
    parser.add_argument(
        "--objects", action="store_true", help="count the live objects grown by type"
    )
    parser.add_argument(
        "--trace", type=int, default=0, metavar="FRAMES",
        help="run tracemalloc in the server (slow) and print what grew",
    )  # fmt: skip
    if "--short" in sys.argv:  # its own defaults; explicit options still win
        parser.set_defaults(seconds=20.0, warmup=5.0, sockets=200, turns=20, getters=4)
    args = parser.parse_args()
    limit = raise_fd_limit(3 * args.sockets + 500)
    print(f"fd limit (soft) {limit}; MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', '-')}")
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
        report = Path(tmp) / "probe.jsonl"
        server_env = {
            **env,
            "SOAK_PROBE": str(report),
            "SOAK_PROBE_TRACE": str(args.trace),
            "SOAK_PROBE_OBJECTS": "1" if args.objects else "0",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(__file__).parent / "probe"), env.get("PYTHONPATH")])
            ),
        }
        port = free_port()
        proc = start("daphne", port, server_env, Path(tmp))
        server = psutil.Process(proc.pid)
        try:
            asyncio.run(
                soak(f"ws://127.0.0.1:{port}/mcp", key, server, Probe(server, report), args)
            )
            log = Path(tmp) / "daphne.log"
            failures = [line for line in log.read_text(errors="replace").splitlines()
                        if " ERROR " in line or line.startswith(("Traceback", "  File", "sqlite3", "django"))]  # fmt: skip
            if failures:
                print(f"\nserver log, errors ({len(failures)} lines, the last 30):")
                print("\n".join(failures[-30:]))
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:  # busy finishing after-turn work: stop it hard
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
