"""onnxruntime thread settings for a server that embeds many turns' messages at once.

    .venv/bin/python bench/onnx_threads.py [--rounds 5]

For intra-op/inter-op thread counts (1/1, 2/1, 2/2, and the cores) it embeds distinct query
sentences from 1 and from 8 threads at once (8 turns in flight), and once beside a thread doing
Python work the way a turn loads its context meanwhile (``beside a turn``). The settings take
turns round after round (a loaded machine drifts; every round measures each of them), and it
prints per setting the medians over the rounds of embeddings/s, p50/p99 latency and the CPU
time of the process per embedding (all threads: the steadiest figure on a loaded machine).
``memory.embeddings`` uses ``EMBEDDING_THREADS`` intra-op threads (see its docstring), inter-op
default, no spinning.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_work(stop: threading.Event) -> None:
    """Pure Python with short GIL releases, like the ORM building queries between reads."""
    x = 0
    while not stop.is_set():
        for i in range(2000):
            x += len(str(i) * 3)
        time.sleep(0)


def measure(encoder, concurrent: int, per_thread: int, tag: str, beside: bool) -> dict:
    latencies: list[float] = []

    def work(k: int) -> None:
        for i in range(per_thread):
            text = f"Tell me about the dragon {tag}-{k}-{i} near the mill and the river?"
            t0 = time.perf_counter()
            encoder.encode([text], 64)
            latencies.append(time.perf_counter() - t0)

    stop = threading.Event()
    busy = threading.Thread(target=python_work, args=(stop,)) if beside else None
    if busy is not None:
        busy.start()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(concurrent)]
    cpu, started = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    if busy is not None:
        busy.join()
    latencies.sort()
    n = len(latencies)
    return {
        "rate": n / elapsed,
        "p50": latencies[n // 2] * 1000,
        "p99": latencies[min(n - 1, int(n * 0.99))] * 1000,
        # beside a turn, the busy thread's CPU is not the embedding's
        "cpu": None if beside else cpu / n * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "personamcp.settings")
    import django

    django.setup()
    import onnxruntime as ort

    from memory import embeddings

    encoder = embeddings._get()
    if encoder.backend != "onnx":
        raise SystemExit(f"embedding backend is {encoder.backend}, not onnx")
    path = embeddings._onnx_dir() / "model.onnx"
    cores = os.cpu_count() or 1
    sessions = {}
    for intra, inter in sorted({(1, 1), (2, 1), (2, 2), (cores, 1)}):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra
        options.inter_op_num_threads = inter
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions[intra, inter] = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    cases = [
        ("1 at once", 1, 40, False),
        ("8 at once", 8, 10, False),
        ("beside a turn", 1, 40, True),
    ]
    found: dict[tuple, list[dict]] = {}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for number in range(args.rounds):
        for key, session in sessions.items():
            encoder.session = session
            encoder.encode([f"warm up {i}" for i in range(8)], 64)
            for name, concurrent, per_thread, beside in cases:
                row = measure(encoder, concurrent, per_thread, f"{number}-{key}", beside)
                found.setdefault((key, name), []).append(row)
    print(f"load average at end: {os.getloadavg()}")
    print(f"medians over {args.rounds} rounds")
    for ((intra, inter), name), rows in found.items():

        def median(field: str, rows: list[dict] = rows) -> float:
            values = [r[field] for r in rows if r[field] is not None]
            return statistics.median(values) if values else float("nan")

        print(
            f"intra {intra} inter {inter}, {name:>13}: {median('rate'):6.0f} /s  "
            f"p50 {median('p50'):6.1f} ms  p99 {median('p99'):6.1f} ms  "
            f"cpu {median('cpu'):5.1f} ms/embedding"
        )


if __name__ == "__main__":
    main()
