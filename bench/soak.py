"""Soak: many open sockets, concurrent streamed turns and a persona.get load, for a bounded time.

Starts its own server (embedded mode: a temporary SQLite database, migrated and seeded, the
offline responder), then:

1. opens ``--sockets`` authenticated WebSockets that stay idle for the whole run;
2. runs ``--turns`` concurrent loops of streamed ``conversation.send_message`` (each loop its
   own socket and sender, so turns never wait for one another's conversation) and
   ``--getters`` loops of ``persona.get``, for ``--seconds``;
3. checks that a sample of the idle sockets still answers, closes everything.

Prints errors (goal 0), p50/p99 of turns and of persona.get, turns/s and the load average, the
RSS of one idle socket, the after-turn backlog (queued jobs, memories stored per turn, how long
it took to drain), open file descriptors from the server's start to after the sockets closed
(and the read cache's watcher with them), and the server's RSS growth per 10,000 turns split
into *data* (what the server holds by design and grows with what is stored: the in-process
memory index's vectors and HNSW graphs, the read cache, the query-embedding cache, SQLite's heap
of page caches) and the *rest* (a leak, unless it is allocator slack):

- while loaded: the end of the window against its start;
- after drain: once the load stopped and the backlog is done, against the same drained state
  after the warm-up (so queued work is not counted as growth);
- after drain and one ``malloc_trim(0)``: free memory glibc still held is given back.

and where that growth lives (glibc malloc: in use, free but held, arenas; Python's arenas;
outside both). The figures come from a small probe loaded into the server through PYTHONPATH
(``bench/probe/sitecustomize.py``; signals, no server code involved), which can also count the
objects grown by type (``--objects``), run tracemalloc (``--trace N``, slow) or turn off
onnxruntime's CPU memory arena (``--no-ort-arena``, to compare). ``--server uvicorn`` runs
uvicorn + uvloop instead of daphne. The soft fd limit is raised to the hard limit for this
process and the server (each socket is one descriptor on both sides); with a hard limit below
~2.5 x ``--sockets`` lower ``--sockets`` or raise the limit (``ulimit -Hn``) first.

    .venv/bin/python bench/soak.py                # 1000 sockets, 100 turns, 20 getters, 60 s
    .venv/bin/python bench/soak.py --short        # 200 sockets, 20 turns, 4 getters, 20 s
    .venv/bin/python bench/soak.py --seconds 600 --warmup 60     # a per-10,000-turn figure
    .venv/bin/python bench/soak.py --server uvicorn --seconds 300
    MALLOC_ARENA_MAX=2 .venv/bin/python bench/soak.py    # compare glibc's arena count
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
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


DATA_FIELDS = ("index_mib", "readcache_mib", "query_cache_mib", "sqlite_heap_mib")


def data_mib(r: dict) -> float:
    """What the server holds by design: memory index, read cache, query cache, SQLite heap."""
    return sum(r.get(f, 0.0) for f in DATA_FIELDS)


async def drain(probe: Probe, most: float) -> tuple[dict, float]:
    """Wait (load stopped) until the after-turn backlog is done; the last probe and the wait."""
    t0 = time.perf_counter()
    while True:
        r = await probe.ask()
        if r["jobs_pending"] == 0 or time.perf_counter() - t0 > most:
            return r, time.perf_counter() - t0
        await asyncio.sleep(1.0)


def growth(label: str, a: dict, b: dict, turns: int) -> dict:
    """RSS growth from ``a`` to ``b`` split into data (held by design) and the rest (leak)."""
    rss = b["rss_mib"] - a["rss_mib"]
    data = data_mib(b) - data_mib(a)
    row = {"rss": per_10k(rss, turns), "data": per_10k(data, turns)}
    row["leak"] = row["rss"] - row["data"]
    print(f"  {label:<34} RSS {row['rss']:+7.1f}  data {row['data']:+6.1f}  "
          f"rest (leak) {row['leak']:+7.1f} MiB per 10,000 turns")  # fmt: skip
    return row


def where(a: dict, b: dict) -> str:
    """Where the growth from ``a`` to ``b`` lives: glibc malloc (in use / free but held),
    Python's arenas, the data, and what none of them explains (thread stacks, mapped files)."""
    d = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in b if isinstance(b.get(k), float | int)}
    malloc = d.get("malloc_used_mib", 0.0) + d.get("malloc_free_mib", 0.0)
    other = d["rss_mib"] - malloc - d.get("pymalloc_arenas_mib", 0.0)
    return (
        f"malloc in use {d.get('malloc_used_mib', 0.0):+.1f} (of which data {data_mib(b) - data_mib(a):+.1f}), "
        f"malloc free but held {d.get('malloc_free_mib', 0.0):+.1f}, "
        f"Python arenas {d.get('pymalloc_arenas_mib', 0.0):+.1f} "
        f"(blocks in use {d.get('pymalloc_used_mib', 0.0):+.1f}), outside both {other:+.1f} MiB; "
        f"malloc arenas {a.get('malloc_arenas', '?')} -> {b.get('malloc_arenas', '?')}"
    )  # fmt: skip


async def soak(url: str, key: str, server: psutil.Process, probe: Probe, args) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    stats = Stats()
    _, fds_started = sample(server)
    # One turn first: the embedding model loads (in the background from start) before the
    # idle sockets are counted, so their own cost is seen.
    await asyncio.wait_for(turn_loop(url, headers, 0, time.perf_counter(), Stats(), 1), 300)
    await drain(probe, 60)
    rss0, fds0 = sample(server)
    print(f"server after its first turn: RSS {rss0:.0f} MiB, {fds0} fds ({fds_started} at start)")

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

    # Warm-up (model load, caches, thread pools, arenas) before the measured window, then the
    # backlog drained: the window starts from a quiet server.
    warm_stop = time.perf_counter() + args.warmup
    await asyncio.gather(
        *(turn_loop(url, headers, n, warm_stop, Stats()) for n in range(args.turns))
    )
    loaded_warm = await probe.ask()
    warm, waited = await drain(probe, args.drain)
    print(f"after warm-up: RSS {loaded_warm['rss_mib']:.0f} MiB with {loaded_warm['jobs_pending']} "
          f"after-turn jobs queued; drained in {waited:.0f} s: RSS {warm['rss_mib']:.0f} MiB, "
          f"memory index {warm['index_mib']:.1f} MiB ({warm['index_rows']} rows), "
          f"{warm['threads']} threads, {warm.get('malloc_arenas', '?')} malloc arenas")  # fmt: skip

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
    load_end = os.getloadavg()
    end = await probe.ask()
    points.append((turns, end))
    _, fds2 = sample(server)
    drained, drain_s = await drain(probe, args.drain)
    trim = await probe.ask(signal.SIGUSR2)
    trimmed = await probe.ask()

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
    # The read cache's watcher connection closes after 10 s without a read.
    t_fd = time.perf_counter()
    fds4 = fds3
    while fds4 > fds0 and time.perf_counter() - t_fd < 20:
        await asyncio.sleep(1)
        _, fds4 = sample(server)
    quiet = await probe.ask()

    stored = drained["index_rows"] - warm["index_rows"]
    print()
    print(f"window {elapsed:.1f} s: {turns} streamed turns ({turns / elapsed:.1f}/s, "
          f"{stats.chunks} chunks), {len(stats.gets)} persona.get ({len(stats.gets) / elapsed:.0f}/s); "
          "load average at the end %.1f %.1f %.1f" % load_end)  # fmt: skip
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
    print(f"after-turn work: queued {warm['jobs_pending']} at the start of the window, "
          f"max {max(r['jobs_pending'] for _, r in points)} during it, {end['jobs_pending']} at its end; "
          f"drained {drain_s:.0f} s after the load stopped ({drained['jobs_pending']} left); "
          f"{stored} memories stored for {turns} turns")  # fmt: skip
    print(f"RSS MiB: first turn {rss0:.0f}, sockets open {rss1:.0f}, warm-up {loaded_warm['rss_mib']:.0f} "
          f"(drained {warm['rss_mib']:.0f}), end of load {end['rss_mib']:.0f}, drained "
          f"{drained['rss_mib']:.0f}, malloc_trim {trim['trim_before_mib']:.0f} -> "
          f"{trim['trim_after_mib']:.0f}, sockets closed {closed['rss_mib']:.0f}")  # fmt: skip
    print("data held by design (MiB, drained at the start -> drained at the end): " + ", ".join(
        f"{f.removesuffix('_mib')} {warm.get(f, 0.0):.1f} -> {drained.get(f, 0.0):.1f}"
        for f in DATA_FIELDS))  # fmt: skip
    index = drained["index_mib"] - warm["index_mib"]
    print(f"memory index: +{stored} rows, +{index:.1f} MiB "
          f"({index * 2**20 / stored if stored else 0:.0f} B per stored memory)")  # fmt: skip
    print("RSS growth over the window, split into data held by design and the rest:")
    rows = {
        "loaded": growth("while loaded (end - start)", warm, end, turns),
        "drained": growth("after drain (both drained)", warm, drained, turns),
        "trimmed": growth("after drain + malloc_trim", warm, trimmed, turns),
    }
    raw_fit = trend([(n, r["rss_mib"]) for n, r in points])
    net_fit = trend([(n, r["rss_mib"] - data_mib(r)) for n, r in points])
    half = [(n, r["rss_mib"] - data_mib(r)) for n, r in points if n >= turns / 2]
    print(f"  trend while loaded (linear fit, {len(points)} points): raw {raw_fit:+.1f}, "
          f"net of data {net_fit:+.1f}, net over the second half {trend(half):+.1f} MiB per 10,000 turns")  # fmt: skip
    print(f"  where, drained start -> drained end: {where(warm, drained)}")
    print(f"  where, drained start -> after trim:  {where(warm, trimmed)}")
    print("over the window (turns: RSS - data MiB / malloc free MiB / threads / queued jobs):",
          ", ".join(f"{n}: {r['rss_mib'] - data_mib(r):.0f}/{r.get('malloc_free_mib', 0):.0f}/"
                    f"{r['threads']}/{r['jobs_pending']}" for n, r in points))  # fmt: skip
    print(f"open fds: server start {fds_started}, after the first turn {fds0}, with {len(idle)} "
          f"sockets {fds1}, end of load {fds2}, 3 s after close {fds3}, "
          f"{time.perf_counter() - t_fd + 3:.0f} s after close {fds4}; open SQLite connections "
          f"by thread at the end of load {end.get('sqlite')}, drained {drained.get('sqlite')}, "
          f"at the end {quiet.get('sqlite')}")  # fmt: skip
    if end.get("top"):
        print("\nallocation sites grown since the warm-up (tracemalloc):")
        for row in end["top"][:15]:
            print(
                f"  {row['kib']:+10.1f} KiB {row['count']:+8d}  {' <- '.join(row['where'][::-1])}"
            )
    if end.get("types"):
        print("live objects grown by type since the warm-up:", end["types"])
    return {
        "server": args.server,
        "turns": turns,
        "seconds": round(elapsed, 1),
        "errors": len(stats.errors),
        "turn_p50_ms": round(pct(stats.turns, 50), 1),
        "turn_p99_ms": round(pct(stats.turns, 99), 1),
        "get_p50_ms": round(pct(stats.gets, 50), 1),
        "get_p99_ms": round(pct(stats.gets, 99), 1),
        "memories_stored": stored,
        "jobs_max": max(r["jobs_pending"] for _, r in points),
        "per_10k_mib": {k: {f: round(v, 1) for f, v in r.items()} for k, r in rows.items()},
        "fds": {"first_turn": fds0, "end_of_load": fds2, "after_close": fds4},
        "load_end": [round(x, 1) for x in load_end],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--getters", type=int, default=20)
    parser.add_argument("--log", help="copy the server's log here at the end")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument(
        "--drain", type=float, default=600.0,
        help="seconds to wait at most for the after-turn backlog once the load stops",
    )  # fmt: skip
    parser.add_argument(
        "--no-ort-arena", action="store_true",
        help="turn off onnxruntime's CPU memory arena in the server (to compare)",
    )  # fmt: skip
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
    print(f"fd limit (soft) {limit}; MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', '-')}; "
          f"{args.server}; load average %.1f %.1f %.1f" % os.getloadavg())  # fmt: skip
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
            "SOAK_PROBE_ORT_ARENA": "0" if args.no_ort_arena else "1",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(__file__).parent / "probe"), env.get("PYTHONPATH")])
            ),
        }
        port = free_port()
        proc = start(args.server, port, server_env, Path(tmp))
        server = psutil.Process(proc.pid)
        try:
            result = asyncio.run(
                soak(f"ws://127.0.0.1:{port}/mcp", key, server, Probe(server, report), args)
            )
            print("RESULT " + json.dumps(result))
            log = Path(tmp) / f"{args.server}.log"
            if args.log:
                Path(args.log).write_bytes(log.read_bytes())
            lines = log.read_text(errors="replace").splitlines()
            errors = [line for line in lines if " ERROR " in line]
            # The exception that ended each traceback, counted.
            ends = Counter(
                line for line in lines
                if line[:1].isalpha() and ("Error: " in line or "Exception: " in line)
            )  # fmt: skip
            if errors or ends:
                print(f"\nserver log: {len(errors)} ERROR lines; exceptions:")
                for line, n in ends.most_common(10):
                    print(f"  {n} x {line[:200]}")
                said = Counter(re.sub(r" \[[^]]*\]", "", e[24:])[:160] for e in errors)
                for line in said.most_common(10):
                    print(f"  {line[1]} x {line[0]}")
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:  # busy finishing after-turn work: stop it hard
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
