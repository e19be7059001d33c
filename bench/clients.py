"""Round trip of ``persona.get`` through each client library against raw ``websockets``.

    .venv/bin/python bench/clients.py [--n 2000] [--warmup 200] [--clients python,js,unity,unreal]

Starts clients/testserver.py (a fresh SQLite database, daphne in the embedded mode), builds what
is missing (``make -C clients/<x> build``), then, one request at a time on one connection:

- raw: Python ``websockets`` sending the JSON-RPC frame and waiting for the matching answer;
- python: ``personamcp_client.Client.persona_get`` (in this process);
- js: ``clients/js/bench/roundtrip.mjs`` (Node, through the ``ws`` package on Node 20);
- unity: ``clients/unity/bin/Bench.exe`` (the C# core on Mono);
- unreal: ``clients/unreal/build/bench`` (the C++ core, Boost.Beast transport).

The raw baseline runs before and after the clients (same server, same run); each client's p50 is
divided by the mean of the two raw p50s. The load generator shares the machine's cores with the
server, so read the ratios, not the absolute numbers.
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


async def raw_samples(url: str, key: str, n: int, warmup: int) -> list[float]:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None) as ws:
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
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--clients", default="python,js,unity,unreal")
    args = parser.parse_args()
    wanted = [c for c in args.clients.split(",") if c]
    for name in ("js", "unity", "unreal"):
        if name in wanted:
            subprocess.run(["make", "-s", "-C", str(ROOT / "clients" / name), "build"], check=True)

    proc, state, _ = start_server()
    url, key = state["url"], state["key"]
    n, warmup = str(args.n), str(args.warmup)
    commands = {
        "js": (["node", "bench/roundtrip.mjs", url, key, n, warmup], ROOT / "clients" / "js"),
        "unity": (["mono", "Bench.exe", url, key, n, warmup], ROOT / "clients" / "unity" / "bin"),
        "unreal": (["./build/bench", url, key, n, warmup], ROOT / "clients" / "unreal"),
    }
    results: dict[str, list[float]] = {}
    try:
        raw_before = asyncio.run(raw_samples(url, key, args.n, args.warmup))
        for name in wanted:
            if name == "python":
                results[name] = asyncio.run(python_samples(url, key, args.n, args.warmup))
            else:
                cmd, cwd = commands[name]
                results[name] = external_samples(cmd, cwd)
        raw_after = asyncio.run(raw_samples(url, key, args.n, args.warmup))
    finally:
        proc.terminate()
        proc.wait(30)

    raw_p50 = statistics.mean([percentile(raw_before, 0.5), percentile(raw_after, 0.5)])
    print(
        f"persona.get round trip, one request at a time, {args.n} samples after {args.warmup} warm-up"
    )
    print(f"cores: {os.cpu_count()}; server: daphne, embedded mode (SQLite)")
    print(f"{'client':<10}{'p50 ms':>9}{'p90 ms':>9}{'p50 / raw':>11}")
    for label, samples in [("raw before", raw_before), ("raw after", raw_after)]:
        print(
            f"{label:<10}{percentile(samples, 0.5):>9.3f}{percentile(samples, 0.9):>9.3f}{'':>11}"
        )
    for name, samples in results.items():
        p50 = percentile(samples, 0.5)
        print(f"{name:<10}{p50:>9.3f}{percentile(samples, 0.9):>9.3f}{p50 / raw_p50:>10.2f}x")


if __name__ == "__main__":
    main()
