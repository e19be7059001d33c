"""Round trip of ``persona.get`` through each client library against raw ``websockets``.

    .venv/bin/python bench/clients.py [--n 2000] [--warmup 200] [--clients python,js,unity,unreal]

Starts clients/testserver.py (a fresh SQLite database, daphne in the embedded mode), builds what
is missing (``make -C clients/<x> build``), then, one request at a time on one connection:

- raw: Python ``websockets`` sending the JSON-RPC frame and waiting for the matching answer,
  without permessage-deflate like the clients (and once more with websockets' default deflate,
  for comparison: compressing small frames costs the server and the client more than it saves);
- python: ``personamcp_client.Client.persona_get`` (in this process);
- js: ``clients/js/bench/roundtrip.mjs`` (Node, through the ``ws`` package on Node 20), and
  node-ws: ``clients/js/bench/rawws.mjs``, the bare ``ws`` package without the library;
- unity: ``clients/unity/bin/Bench.exe`` (the C# core on Mono);
- unreal: ``clients/unreal/build/bench`` (the C++ core, Boost.Beast transport).

In rounds (default 5): raw, each client, raw with deflate, raw again; a client's ratio in a
round is its p50 over the mean of the two raw p50s around it, and the figure printed is the
median over the rounds (same server, same run). The load generator shares the machine's cores
with the server, so read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_samples(
    url: str, key: str, n: int, warmup: int, compression: str | None = None
) -> list[float]:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None, compression=compression) as ws:
        next_id = 0

        async def call(method: str, params: dict) -> dict:
            nonlocal next_id
            next_id += 1
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params})
            )
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == next_id:
                    return message

        await call("session.authenticate", {"token": key})
        for _ in range(warmup):
            await call("persona.get", {"persona_id": "alice"})
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            await call("persona.get", {"persona_id": "alice"})
            samples.append((time.perf_counter() - t0) * 1000)
        return samples


async def python_samples(url: str, key: str, n: int, warmup: int) -> list[float]:
    from personamcp_client import Client

    async with Client(url, key) as client:
        for _ in range(warmup):
            await client.persona_get("alice")
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            await client.persona_get("alice")
            samples.append((time.perf_counter() - t0) * 1000)
        return samples


def external_samples(cmd: list[str], cwd: Path) -> list[float]:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_ms"]


def start_server() -> tuple[subprocess.Popen, dict, Path]:
    state_path = Path(tempfile.mkdtemp(prefix="pmc-bench-")) / "state.json"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "clients" / "testserver.py"), "--state", str(state_path)],
        cwd=ROOT,
        # a benchmark sends more than the default 6000 requests per minute on one key
        env={**os.environ, "PERSONAMCP_RATE_LIMIT": "100000000"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not state_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the test server did not start")
        time.sleep(0.1)
    return proc, json.loads(state_path.read_text()), state_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="samples per client, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--clients", default="python,js,unity,unreal")
    args = parser.parse_args()
    wanted = [c for c in args.clients.split(",") if c]
    if "js" in wanted:
        wanted.insert(wanted.index("js") + 1, "node-ws")
    for name in ("js", "unity", "unreal"):
        if name in wanted:
            subprocess.run(["make", "-s", "-C", str(ROOT / "clients" / name), "build"], check=True)

    proc, state, _ = start_server()
    url, key = state["url"], state["key"]
    per_round, warmup = max(1, args.n // args.rounds), str(args.warmup)
    commands = {
        "js": (["node", "bench/roundtrip.mjs", url, key], ROOT / "clients" / "js"),
        # the bare `ws` package, no client library: what Node itself costs
        "node-ws": (["node", "bench/rawws.mjs", url, key], ROOT / "clients" / "js"),
        "unity": (["mono", "Bench.exe", url, key], ROOT / "clients" / "unity" / "bin"),
        "unreal": (["./build/bench", url, key], ROOT / "clients" / "unreal"),
    }
    raw: list[float] = []
    deflate: list[float] = []
    results: dict[str, list[float]] = {name: [] for name in wanted}
    ratios: dict[str, list[float]] = {name: [] for name in [*wanted, "raw+deflate"]}
    try:
        asyncio.run(raw_samples(url, key, 500, 500))  # the server warms up (model loading...)
        # Rounds: raw, then each client, then raw again; a client's ratio in a round is its p50
        # over the mean of the two raw p50s around it (the machine's load drifts).
        for _ in range(args.rounds):
            before = asyncio.run(raw_samples(url, key, per_round, args.warmup))
            this_round: dict[str, list[float]] = {}
            for name in wanted:
                if name == "python":
                    samples = asyncio.run(python_samples(url, key, per_round, args.warmup))
                else:
                    cmd, cwd = commands[name]
                    samples = external_samples([*cmd, str(per_round), warmup], cwd)
                this_round[name] = samples
            this_round["raw+deflate"] = asyncio.run(
                raw_samples(url, key, per_round, args.warmup, "deflate")
            )
            after = asyncio.run(raw_samples(url, key, per_round, args.warmup))
            base = statistics.mean([percentile(before, 0.5), percentile(after, 0.5)])
            raw += before + after
            for name, samples in this_round.items():
                ratios[name].append(percentile(samples, 0.5) / base)
                (deflate if name == "raw+deflate" else results[name]).extend(samples)
    finally:
        proc.terminate()
        proc.wait(30)

    print(
        f"persona.get round trip, one request at a time on one connection; {args.rounds} rounds "
        f"of {per_round} samples per client (after {args.warmup} warm-up each)"
    )
    print(f"cores: {os.cpu_count()}; server: daphne, embedded mode (SQLite); same server, same run")
    print(f"{'client':<12}{'p50 ms':>9}{'p90 ms':>9}{'p50 / raw':>11}  (median of the rounds)")
    print(f"{'raw':<12}{percentile(raw, 0.5):>9.3f}{percentile(raw, 0.9):>9.3f}{1:>10.2f}x")
    for name, samples in [*results.items(), ("raw+deflate", deflate)]:
        ratio = statistics.median(ratios[name])
        print(
            f"{name:<12}{percentile(samples, 0.5):>9.3f}{percentile(samples, 0.9):>9.3f}"
            f"{ratio:>10.2f}x"
        )


if __name__ == "__main__":
    main()
