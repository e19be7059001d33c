"""onnxruntime thread settings for a server that embeds many turns' messages at once.

    .venv/bin/python bench/onnx_threads.py

For intra-op/inter-op thread counts (1/1, 2/1, 2/2, and the cores) it embeds distinct query
sentences from 1 and from 8 threads at once (8 turns in flight) and prints embeddings/s and
p50/p99 latency. ``memory.embeddings`` uses intra-op = min(4, cores), inter-op default, no
spinning; rerun this on an idle machine before changing that.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
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
    for intra, inter in sorted({(1, 1), (2, 1), (2, 2), (cores, 1)}):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra
        options.inter_op_num_threads = inter
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        encoder.session = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        encoder.encode([f"warm up {i}" for i in range(8)], 64)
        for concurrent in (1, 8):
            latencies: list[float] = []
            per_thread = 40 if concurrent == 1 else 12

            def work(k: int, per_thread: int = per_thread, latencies: list = latencies) -> None:
                for i in range(per_thread):
                    text = f"Tell me about the dragon {k}-{i} near the mill and the river?"
                    t0 = time.perf_counter()
                    encoder.encode([text], 64)
                    latencies.append(time.perf_counter() - t0)

            threads = [threading.Thread(target=work, args=(k,)) for k in range(concurrent)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            latencies.sort()
            n = len(latencies)
            print(
                f"intra {intra} inter {inter}, {concurrent} at once: {n / elapsed:6.0f} /s  "
                f"p50 {latencies[n // 2] * 1000:6.1f} ms  p99 {latencies[int(n * 0.99)] * 1000:6.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
