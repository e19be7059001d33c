"""Every row of the performance table (issue 16), each next to its floor measured in the same run.

    .venv/bin/python bench/run_all.py            # the whole table, both modes (about 25 min)
    .venv/bin/python bench/run_all.py --quick    # smaller sizes and shorter runs (about 8 min)
    .venv/bin/python bench/run_all.py --million  # also 1M memories on PostgreSQL (+ ~15 min)
    make bench                                   # the same as the first line

Runs the benchmarks of this folder one after the other, each in its own processes (they start
their own servers and databases: SQLite files under temporary folders, PostgreSQL and Redis
from ``scripts/services.py``), reads the ``RESULT {json}`` line each prints, and prints one
table at the end. Every figure is measured on this machine in this run, the floors too, so a
ratio stays meaningful on a loaded machine even when the absolute numbers do not. The load
average at the start and the end is printed with the table. ``bench/README.md`` explains each
row. A benchmark that cannot run here (no Matrix homeserver, say) is reported as such and the
others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def run(
    label: str, args: list[str], timeout: float, env: dict | None = None
) -> tuple[list[dict], str]:
    """Run one benchmark (``env``: variables added); its ``RESULT`` payloads and its whole
    output (also echoed)."""
    print(f"\n### {label}: {' '.join(args)} {env or ''}", flush=True)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        print(out[-3000:])
        print(f"!!! {label} timed out after {timeout:.0f} s")
        return [], out
    out = proc.stdout
    for line in out.splitlines():
        if not line.startswith("RESULT "):
            print("    " + line)
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        print(f"!!! {label} failed (exit {proc.returncode})")
    print(f"    ({time.monotonic() - started:.0f} s)", flush=True)
    results = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    return results, out


def load_average() -> str:
    try:
        return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        return "?"


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, path: str, mode: str, now: str, floor: str, goal: str) -> None:
        self.rows.append((path, mode, now, floor, goal))

    def print(self) -> None:
        heads = ("path", "mode", "measured", "floor / baseline (same run)", "goal")
        widths = [max(len(r[i]) for r in [heads, *self.rows]) for i in range(5)]
        line = "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
        print(line)
        print("-" * len(line))
        for row in self.rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def socket_rows(table: Table, quick: bool) -> None:
    args = [str(BENCH / "rpc_throughput.py"), "--conns", "50"]
    args += ["--seconds", "3" if quick else "6", "--rounds", "1" if quick else "2"]
    results, _ = run("socket path", args, 900)
    if not results:
        table.add("persona.get over /mcp, 50 conns", "embedded", "not run", "-", "-")
        return
    r = results[-1]
    echo = r.get("echo@50", {}).get("rps") or float("nan")
    for server, bare, goal in (
        ("daphne", "asgi-daphne", ">= 0.5; p99 <= 10 x p50"),
        ("uvicorn", "asgi-uvicorn", ">= 0.8; p99 <= 10 x p50"),
    ):
        row, floor = r.get(f"{server}@50"), r.get(f"{bare}@50")
        if not row or not floor:
            table.add(f"persona.get /mcp on {server} / echo", "embedded", "not run", "-", goal)
            continue
        table.add(
            f"persona.get /mcp on {server} / raw echo, 50 conns",
            "embedded",
            f"{row['rps'] / echo:.2f} ({row['rps']:.0f}/s; p50 {row['p50_ms']:.1f} ms, "
            f"p99 {row['p99_ms']:.1f} ms = {row['p99_ms'] / row['p50_ms']:.1f} x p50; "
            f"{row['cpu_us']:.0f} us CPU/req)",
            f"bare ASGI on {server} {floor['rps'] / echo:.2f} ({floor['cpu_us']:.0f} us CPU/req);"
            f" echo {echo:.0f}/s",
            goal,
        )


def memory_rows(table: Table, quick: bool, million: bool) -> None:
    sizes = "10000,100000"
    queries = "60" if quick else "200"
    by: dict[tuple[str, int], dict] = {}
    for backend in ("sqlite", "postgres"):
        backend_sizes = sizes + (",1000000" if million and backend == "postgres" else "")
        args = [str(BENCH / "memory_search.py"), "--backends", backend, "--sizes", backend_sizes]
        results, _ = run(f"memory {backend}", [*args, "--queries", queries], 3600)
        for r in results:
            by[backend, int(r["size"])] = r
    mode = {"sqlite": "embedded", "postgres": "scaled"}
    for backend in ("sqlite", "postgres"):
        for size in (100000, 1000000):
            r = by.get((backend, size))
            if r is None:
                if size == 100000:
                    table.add("retrieval after embedding, 100k", mode[backend], "not run", "-", "")
                continue
            table.add(
                f"retrieval p50 after embedding, {size // 1000}k",
                mode[backend],
                f"{r['retrieval_p50']:.2f} ms (p99 {r['retrieval_p99']:.2f}); "
                f"recall@10 {r['recall_at_10']:.3f}",
                f"exact numpy top-10 {r['exact_p50']:.2f} ms; candidate query "
                f"{r['candidates_p50']:.2f} ms",
                "<= 2 ms; recall >= 0.98" if size < 10**6 else "<= 5 ms (PostgreSQL)",
            )
    for backend in ("sqlite", "postgres"):
        r = by.get((backend, 10000))
        if r is None:
            continue
        table.add(
            "search end to end (embed + retrieve), 10k / floor",
            mode[backend],
            f"{r['total_p50'] / r['floor_p50']:.2f} x ({r['total_p50']:.2f} ms)",
            f"embed {r['embedding_p50']:.2f} + exact numpy {r['exact_p50']:.2f} ms",
            "<= 1.2 x",
        )
    for backend in ("sqlite", "postgres"):
        r = by.get((backend, 10000))
        if r is None:
            continue
        table.add(
            "ingest with embedding / raw batch embedding",
            mode[backend],
            f"{r['ingest_per_s'] / r['embed_batch_per_s']:.2f} ({r['ingest_per_s']:.0f}/s)",
            f"raw batch embedding {r['embed_batch_per_s']:.0f}/s",
            ">= 0.9",
        )
    rss = {size: r["rss_mib"] for (b, size), r in by.items() if b == "sqlite"}
    if rss:
        cells = ", ".join(f"{s // 1000}k: {v:.0f} MiB" for s, v in sorted(rss.items()))
        table.add("embedded process RSS (index in memory)", "embedded", cells, "-", "see README")


def turn_rows(table: Table, quick: bool) -> None:
    size = 10000 if quick else 100000
    turns = "40" if quick else "200"
    models = [("MiniLM", {})]
    static = ROOT / "var" / "models" / "all-MiniLM-L6-v2-static" / "model.safetensors"
    if static.exists():  # make static-embeddings
        models.append(("static model", {"EMBEDDING_MODEL": "static"}))
    else:
        print("\n(no static embedding model: `make static-embeddings` adds its turn rows)")
    for model, env in models:
        for mode in ("embedded", "scaled"):
            args = [str(BENCH / "turn_overhead.py"), "--modes", mode, "--sizes", str(size)]
            results, _ = run(f"turn {mode} {model}", [*args, "--turns", turns], 3600, env)
            label = f"{size // 1000}k, {model} embeddings"
            if not results:
                table.add(f"platform cost of a turn, {label}", mode, "not run", "-", "")
                continue
            row = results[-1]["sizes"][str(size)]
            p, f, x = row["platform_ms"], row["floor_ms"], row["extra_to_first_chunk_ms"]
            table.add(
                f"platform cost of a turn (instant LLM), {label}, p50 / p99",
                mode,
                f"{p['p50']:.1f} / {p['p99']:.1f} ms",
                f"embedding + exact retrieval {f['p50']:.1f} / {f['p99']:.1f} ms",
                "<= 15 / <= 40 ms",
            )
            table.add(
                f"extra time to first streamed chunk vs the LLM directly, {model} embeddings",
                mode,
                f"{x['p50']:.1f} ms (p99 {x['p99']:.1f})",
                f"embedding + exact retrieval {f['p50']:.1f} ms",
                "<= 8 ms",
            )


def matrix_rows(table: Table, quick: bool) -> None:
    args = [str(BENCH / "matrix_latency.py"), "--messages", "20" if quick else "50"]
    _, out = run("matrix", args, 1200)
    found = {}
    labels = (
        "unencrypted room -> reply in sync",
        "conversation.send_message (/mcp)",
        "echo client (Matrix floor)",
    )
    for label in labels:
        m = re.search(re.escape(label) + r".*?p50=\s*([\d.]+) ms", out)
        if m:
            found[label] = float(m.group(1))
    if len(found) < len(labels):
        table.add("Matrix reply latency, p50", "embedded", "not run (see above)", "-", "<= 50 ms")
        return
    reply, turn, floor = (found[label] for label in labels)
    table.add(
        "Matrix reply latency over the turn itself, p50",
        "embedded",
        f"{reply:.1f} ms (+{reply - turn:.1f} ms over the turn)",
        f"the same turn over /mcp {turn:.1f} ms; a bare echo client {floor:.1f} ms",
        "<= 50 ms",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    parser.add_argument("--million", action="store_true", help="also 1M memories on PostgreSQL")
    parser.add_argument(
        "--only", default="socket,memory,turn,matrix", help="comma-separated parts to run"
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    started, load_before = time.monotonic(), load_average()
    table = Table()
    if "socket" in parts:
        socket_rows(table, args.quick)
    if "memory" in parts:
        memory_rows(table, args.quick, args.million)
    if "turn" in parts:
        turn_rows(table, args.quick)
    if "matrix" in parts:
        matrix_rows(table, args.quick)
    print(
        f"\n=== Persona-MCP performance table ({'quick' if args.quick else 'full'} run, "
        f"{os.cpu_count()} cores, {time.monotonic() - started:.0f} s; load average "
        f"{load_before} at the start, {load_average()} at the end) ==="
    )
    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
