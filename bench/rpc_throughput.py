"""JSON-RPC throughput of /mcp: persona.get over N WebSocket connections, against an echo bound.

Starts everything itself (embedded mode: a temporary SQLite database, migrated and seeded, an
API key), then for each server and each concurrency level runs N connections that each send
``persona.get`` (and wait for the answer) for a fixed time. The same load runs against a
minimal raw ``websockets`` JSON echo server as the upper bound for Python WebSockets here.

    .venv/bin/python bench/rpc_throughput.py                 # daphne, uvicorn, echo; 1/50/200
    .venv/bin/python bench/rpc_throughput.py --seconds 3 --conns 1,50 --servers daphne,echo
    .venv/bin/python bench/rpc_throughput.py --method system.ping

Prints req/s, p50/p99 latency, the ratio to the echo server, the server's CPU time per request
(``cpu us``) and the load generator's (``client``). The load generator runs in this process
(asyncio + uvloop) on the same machine, so it competes with the server for CPU. A row is
server-bound when the server's CPU per request is well above the client's; ``cpu x`` (the echo
server's CPU per request over this server's) is what ``x echo`` tends to on an idle machine
then, and it does not move with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent

ECHO_SERVER = textwrap.dedent(
    """
    import asyncio, json, sys
    import websockets

    async def handler(ws):
        async for frame in ws:
            request = json.loads(frame)
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": request.get("id"),
                                      "result": request.get("params")}))

    async def main():
        async with websockets.serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None):
            await asyncio.Future()

    asyncio.run(main())
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


def prepare(var_dir: Path, env: dict) -> str:
    """Migrate and seed a fresh SQLite database; return a new read API key."""
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], **run)
    subprocess.run([sys.executable, "manage.py", "seed_demo"], **run)
    code = (
        "from personamcp.services import api_key_create; "
        "print(api_key_create(name='bench', scope='read')[1])"
    )
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], text=True, **run)
    return out.stdout.strip().splitlines()[-1]


def start(kind: str, port: int, env: dict, var_dir: Path) -> subprocess.Popen:
    log = var_dir / f"{kind}.log"
    app = "bench.asgi_echo:app" if kind.startswith("asgi-") else "personamcp.asgi:application"
    if kind in ("daphne", "asgi-daphne"):
        cmd = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            app,
        ]
    elif kind in ("uvicorn", "asgi-uvicorn"):
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--ws",
            "websockets-sansio",  # uvicorn's default (auto); "websockets" is the slower legacy one
            "--log-level",
            "warning",
            "--no-access-log",
            app,
        ]
    else:
        cmd = [sys.executable, "-c", ECHO_SERVER, str(port)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_port(port, proc, log)
    return proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(pid: int, stem: Path) -> subprocess.Popen:
    """py-spy sampling ``pid`` until interrupted; writes ``stem``.txt (collapsed stacks) and,
    once it has stopped (``top_lists``), ``stem``.top.txt."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    cmd = [str(spy), "record", "--pid", str(pid), "--format", "raw", "-r", "200"]
    cmd += ["-o", f"{stem}.txt", "--nonblocking"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the load starts
    return proc


def top_lists(stem: Path, n: int = 30) -> None:
    """``stem``.top.txt: the functions with the most samples, on-CPU (self) and inclusive."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(f"{stem}.txt").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        if frames:
            own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    with open(f"{stem}.top.txt", "w") as out:
        for title, counter in (("self", own), ("inclusive", inclusive)):
            out.write(f"{title} (share of {total} samples)\n")
            for frame, count in counter.most_common(n):
                out.write(f"{count / max(1, total):7.1%}  {frame}\n")
            out.write("\n")


async def drive(ws, method, params, stop_at, latencies, errors) -> None:
    """Request, wait for the answer, repeat until ``stop_at`` (closed loop, one in flight)."""
    i = 0
    while time.perf_counter() < stop_at:
        i += 1
        frame = json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        t0 = time.perf_counter()
        await ws.send(frame)
        reply = json.loads(await ws.recv())
        latencies.append(time.perf_counter() - t0)
        if "error" in reply or reply.get("id") != i:
            errors.append(reply)


async def load(url, headers, method, params, conns: int, seconds: float, on_ready=None) -> dict:
    """Open ``conns`` connections (not timed), then drive them all for ``seconds``.

    ``on_ready()`` runs once the connections are open (e.g. to attach a profiler); whatever it
    returns is given back as ``row["attached"]``.
    """
    latencies: list[float] = []
    errors: list = []
    sockets = []
    for start in range(0, conns, 25):  # connect in waves so handshakes do not time out
        sockets += await asyncio.gather(
            *(
                websockets.connect(
                    url,
                    additional_headers=headers,
                    compression=None,
                    max_size=None,
                    open_timeout=60,
                )
                for _ in range(start, min(conns, start + 25))
            )
        )
    attached = on_ready() if on_ready else None
    client_cpu = time.process_time()
    started = time.perf_counter()
    stop_at = started + seconds
    results = await asyncio.gather(
        *(drive(ws, method, params, stop_at, latencies, errors) for ws in sockets),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    failures = [r for r in results if isinstance(r, Exception)]
    latencies.sort()
    n = len(latencies)
    pct = lambda q: latencies[min(n - 1, int(q * n))] * 1000 if n else float("nan")  # noqa: E731
    return {
        "requests": n,
        "rps": n / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "client_cpu_us": client_cpu / max(1, n) * 1e6,
        "errors": len(errors) + len(failures),
        "first_error": (errors or failures or [None])[0],
        "attached": attached,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per server and level")
    parser.add_argument("--conns", default="1,50,200", help="concurrency levels")
    parser.add_argument("--servers", default="echo,asgi-daphne,daphne,asgi-uvicorn,uvicorn")
    parser.add_argument("--method", default="persona.get")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="record each server but the raw echo under py-spy (collapsed stacks and top lists in DIR)",
    )
    parser.add_argument("--dev-mode", action="store_true", help="anonymous instead of a key")
    parser.add_argument(
        "--rounds", type=int, default=2, help="servers alternate; the best round is reported"
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    levels = [int(c) for c in args.conns.split(",")]
    servers = args.servers.split(",")
    params = {"persona_id": "alice"} if args.method == "persona.get" else {}
    with tempfile.TemporaryDirectory(prefix="pmcp-bench-") as tmp:
        var_dir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            PERSONAMCP_VAR_DIR=str(var_dir),
            EMBEDDING_CACHE_DIR=str(ROOT / "var" / "models"),  # the model exported once
            PERSONAMCP_SCHEDULER="0",
            # persona.get needs no embedding model: loading it at start would count its CPU.
            PERSONAMCP_WARMUP="0",
            PERSONAMCP_RATE_LIMIT=str(10**9),  # counted as usual, never reached
            PERSONAMCP_DEV_MODE="1" if args.dev_mode else "0",
            SECRET_KEY="bench-only-secret-key-not-for-production-0123456789",
            HF_HUB_OFFLINE="1",
        )
        key = prepare(var_dir, env)
        headers = {} if args.dev_mode else {"Authorization": f"Bearer {key}"}
        print(
            f"persona-mcp /mcp throughput: {args.method}, {args.seconds:g} s per run, "
            f"embedded mode (SQLite), {'dev mode' if args.dev_mode else 'API key auth'}"
        )
        print(
            f"machine: {os.cpu_count()} cores; the load generator runs on the same cores and "
            "competes with the server for CPU, so figures are lower bounds."
        )
        print()
        rows: dict[tuple[str, int], dict] = {}
        # Rounds alternate the servers so that a burst of load from elsewhere on the machine
        # does not hit one server only; each cell keeps its best round.
        for _ in range(args.rounds):
            for kind in servers:
                port = free_port()
                proc = start(kind, port, env, var_dir)
                try:
                    url = f"ws://127.0.0.1:{port}" + ("" if kind == "echo" else "/mcp")
                    asyncio.run(load(url, headers, args.method, params, 1, 0.5))  # warm-up
                    for conns in levels:
                        on_ready = None
                        if args.profile and kind != "echo":
                            stem = Path(args.profile) / f"{kind}-{conns}"
                            on_ready = functools.partial(profile, proc.pid, stem)
                        cpu0 = cpu_seconds(proc.pid)
                        row = asyncio.run(
                            load(url, headers, args.method, params, conns, args.seconds, on_ready)
                        )
                        row["cpu_us"] = (
                            (cpu_seconds(proc.pid) - cpu0) / max(1, row["requests"]) * 1e6
                        )
                        spy = row.pop("attached")
                        if spy is not None:
                            spy.send_signal(2)
                            spy.wait(60)
                            top_lists(Path(args.profile) / f"{kind}-{conns}")
                        best = rows.get((kind, conns))
                        if best is None or row["rps"] > best["rps"]:
                            rows[kind, conns] = row
                finally:
                    proc.terminate()
                    proc.wait(10)
        try:
            load_avg = "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
        except OSError:
            load_avg = ""
        print(f"best of {args.rounds} rounds; {load_avg}")
        header = f"{'server':<22}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'x echo':>8}{'cpu us':>8}{'cpu x':>7}{'client':>8}{'errors':>8}"
        print(header)
        print("-" * len(header))
        labels = {
            "echo": "raw websockets echo",
            "asgi-daphne": "bare ASGI on daphne",
            "daphne": "/mcp on daphne",
            "asgi-uvicorn": "bare ASGI on uvicorn",
            "uvicorn": "/mcp on uvicorn+uvloop",
        }
        for kind in servers:
            for conns in levels:
                row = rows[kind, conns]
                echo = rows.get(("echo", conns))
                ratio = f"{row['rps'] / echo['rps']:.2f}" if echo and echo["rps"] else "-"
                cpu_ratio = (
                    f"{echo['cpu_us'] / row['cpu_us']:.2f}" if echo and row["cpu_us"] else "-"
                )
                print(
                    f"{labels.get(kind, kind):<22}{conns:>6}{row['rps']:>10.0f}"
                    f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{ratio:>8}"
                    f"{row['cpu_us']:>8.0f}{cpu_ratio:>7}{row['client_cpu_us']:>8.0f}{row['errors']:>8}"
                )
                if row["errors"]:
                    print(f"    first error: {str(row['first_error'])[:200]}")
        results = {
            f"{kind}@{conns}": {k: v for k, v in row.items() if k != "first_error"}
            for (kind, conns), row in rows.items()
        }
        print("RESULT " + json.dumps(results))


if __name__ == "__main__":
    main()
