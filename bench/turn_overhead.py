"""The platform's own cost per conversation turn, with an LLM that answers instantly.

    .venv/bin/python bench/turn_overhead.py [--turns 200] [--sizes 0,10000,100000]
                                            [--modes embedded,scaled] [--vectors hard|random]

(``BENCH_REDIS_DB``: the Redis database of the scaled run, default 14; it is purged.
``--profile DIR``: py-spy records the turns of each size, not the loading, in
``DIR/turn-<mode>-<size>.txt``, collapsed stacks with one line per thread.)

For each runtime mode (embedded: SQLite + in-process jobs; scaled: PostgreSQL/pgvector + Redis,
started with ``scripts/services.py up``) a child process gets a fresh database, one persona and
a fake Ollama server on 127.0.0.1 (``tests/conversations/fakes.py``) that streams its reply
without delay. At each memory count (memories are stored with the retrieval benchmark's
``hard`` vectors, near-duplicates of real sentence embeddings, ``memory_search.synthetic``;
``--vectors random``: random unit vectors, structureless as no text embedding is, which make
a graph index walk about five times as many nodes) it waits until the embedded mode's HNSW
graph holds every row (``index_ready_s``; a running server builds it once and reuses the saved
graph after a restart), then runs ``--turns`` streamed turns through
``conversations.services.conversation_send_message`` with distinct messages (so that the
embedding cache never helps) and reports p50/p99 of:

- total: wall time of the turn; platform = total - LLM time;
- embedding, retrieval, prompt building, persistence (the pipeline's own timings);
- time to first streamed chunk through the pipeline vs calling the LLM server directly with
  the same prompt (the difference is what the platform adds before the first token).

Post-turn work (memory, mood, relationship) runs after the reply: in-process when embedded
(the bench waits for it between turns so that it is not counted in the next turn), on the
Celery queue when scaled (no worker is started: the queue is purged at the end).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = [
    "dragon",
    "mill",
    "river",
    "silver",
    "ring",
    "stew",
    "bread",
    "inn",
    "cellar",
    "storm",
    "harvest",
    "lantern",
    "key",
    "tower",
    "road",
    "market",
    "guard",
    "forest",
    "wolf",
    "song",
    "ballad",
    "letter",
    "debt",
    "coin",
    "ale",
    "fire",
    "winter",
    "spring",
    "ship",
    "harbour",
    "map",
    "thief",
    "captain",
    "festival",
    "bridge",
    "candle",
    "horse",
    "cart",
    "rain",
    "secret",
    "book",
    "archive",
    "star",
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def message(rng: random.Random, i: int) -> str:
    words = rng.sample(WORDS, 8)
    return f"Tell me, {words[0]}-{i}: have you heard about the {words[1]} near the {words[2]}? " + (
        " ".join(words[3:])
    )


def add_memories(persona, count: int, rng, vectors_kind: str) -> None:
    import numpy as np

    from memory.services import memory_store_many

    base = None
    if vectors_kind == "hard" and count:  # near-duplicates of real sentence embeddings
        from memory_search import sentences, synthetic

        from memory.embeddings import embed

        base = np.asarray(embed(sentences(3000)), dtype=np.float32)
    batch = 2000
    for start in range(0, count, batch):
        n = min(batch, count - start)
        np_rng = np.random.default_rng(rng.randint(0, 1 << 30))
        if base is not None:
            vectors = synthetic(base, n, np_rng, "hard")
        else:
            vectors = np_rng.standard_normal((n, 384))
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        items = [
            {
                "content": f"Memory {start + j}: the {rng.choice(WORDS)} and the "
                f"{rng.choice(WORDS)} by the {rng.choice(WORDS)}.",
                "kind": "episodic",
                "importance": rng.random(),
                "embedding": vectors[j].astype("float32"),
            }
            for j in range(n)
        ]
        memory_store_many(persona=persona, items=items, publish=False)


def floor_ms(persona, rng, size: int, n: int = 50) -> tuple[list[float], list[float]]:
    """The floor of a turn's own work, measured here: embedding a new message plus an exact
    top-10 over the persona's vectors already in memory (numpy), nothing else; and the
    embedding alone (what ``embedding`` costs when nothing runs beside it)."""
    import numpy as np

    from memory.embeddings import embed_one
    from memory.models import Memory

    vectors = list(Memory.objects.filter(persona=persona).values_list("embedding", flat=True))
    matrix = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 384), np.float32)
    out, alone = [], []
    for i in range(n):
        text = message(rng, 10**7 + size + i)  # never embedded before
        t0 = time.perf_counter()
        vec = embed_one(text)
        alone.append((time.perf_counter() - t0) * 1000)
        if len(matrix) > 10:
            np.argpartition(-(matrix @ vec), 10)[:10]
        out.append((time.perf_counter() - t0) * 1000)
    return out, alone


def profile(path: Path) -> subprocess.Popen:
    """py-spy sampling this process (every thread apart) until sent SIGINT."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    cmd = [str(spy), "record", "--pid", str(os.getpid()), "--format", "raw", "-r", "200"]
    cmd += ["--threads", "--nonblocking", "-o", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the turns start
    return proc


def child(mode: str, turns: int, sizes: list[int]) -> dict:
    import django
    import numpy as np

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    sys.path.insert(0, str(ROOT))
    from conversations.models import Message
    from conversations.services import conversation_send_message
    from llm import get_provider
    from memory.embeddings import embed_one
    from personamcp import jobs
    from personas.services import persona_create
    from tests.conversations.fakes import FakeLLMServer

    call_command("migrate", verbosity=0)
    fake = FakeLLMServer("ollama", reply="Well met, traveller! Sit by the fire and tell me more.")
    fake.start()
    settings.LLM_PROVIDER = "ollama"
    settings.OLLAMA_URL = fake.url
    persona = persona_create(
        name="Bench Alice",
        description="An innkeeper used for benchmarking.",
        speaking_style="Warm and chatty.",
        greeting="Come in!",
    )
    embed_one("warm up the embedding model")
    rng = random.Random(7)
    results = {}
    have = 0
    for size in sizes:
        t0 = time.perf_counter()
        postgres = connection.vendor == "postgresql"
        if postgres and size > have:
            # Inserting through a built HNSW index costs a graph insertion per row (100k rows
            # took over 10 minutes); load without it and build it once, as the retrieval
            # benchmark does (``memory_search.build_hnsw``: the graph in memory).
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX IF EXISTS memory_embedding_hnsw")
        add_memories(persona, size - have, rng, os.environ.get("BENCH_TURN_VECTORS", "hard"))
        if postgres and size > have:
            from memory_search import build_hnsw

            migration = importlib.import_module("memory.migrations.0004_hnsw_halfvec")
            build_hnsw(migration.HNSW_SQL, size)
        have = size
        load_s = time.perf_counter() - t0
        # Steady state, as a running server has it: the embedded mode's HNSW graph holds every
        # row (built once, then saved and reused at the next start) before turns are measured.
        t0 = time.perf_counter()
        if not settings.REDIS_URL:
            from memory import index

            index.search(str(persona.id), np.zeros(384, np.float32), 1)  # loads, starts a build
            index.wait_ready(str(persona.id), timeout=3600)
        index_s = time.perf_counter() - t0
        rows: list[dict] = []
        direct_first: list[float] = []
        spy = None
        if os.environ.get("BENCH_TURN_PROFILE"):  # --profile: py-spy over the turns only
            spy = profile(Path(os.environ["BENCH_TURN_PROFILE"]) / f"turn-{mode}-{size}.txt")
        for i in range(turns + 5):
            result = conversation_send_message(
                persona=persona,
                content=message(rng, i + size),
                sender=f"player-{i % 10}",
                sender_name=f"Player {i % 10}",
                stream=True,
                on_chunk=lambda chunk: None,
            )
            if i >= 5:  # warm-up turns are not counted
                rows.append(result["timing"])
            # the same prompt sent straight to the LLM server
            prompt = Message.objects.get(pk=result["message_id"]).prompt["messages"]
            start = time.perf_counter()
            stream = get_provider().stream(prompt)
            next(stream)
            direct_first.append((time.perf_counter() - start) * 1000)
            list(stream)
            # post-turn work runs after the reply; let it finish so that it does not
            # compete with the next turn being measured
            jobs.wait_idle(120)

        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
        floor, embedding_alone = floor_ms(persona, rng, size)

        def col(name: str, rows: list[dict] = rows) -> list[float]:
            return [float(r.get(name) or 0.0) for r in rows]

        platform = [r["total_ms"] - r["llm_ms"] for r in rows]
        parts = ("embedding_ms", "retrieval_ms", "prompt_ms", "persistence_ms")
        other = [
            p - sum(float(r.get(k) or 0) for k in parts)
            for p, r in zip(platform, rows, strict=True)
        ]
        extra_first = [
            float(r["first_chunk_ms"]) - d for r, d in zip(rows, direct_first[5:], strict=True)
        ]
        results[size] = {
            "memories_load_s": round(load_s, 1),
            "index_ready_s": round(index_s, 1),
            **{
                name: {"p50": round(pct(values, 50), 2), "p99": round(pct(values, 99), 2)}
                for name, values in {
                    "total_ms": col("total_ms"),
                    "platform_ms": platform,
                    "embedding_ms": col("embedding_ms"),
                    "retrieval_ms": col("retrieval_ms"),
                    "prompt_ms": col("prompt_ms"),
                    "persistence_ms": col("persistence_ms"),
                    "other_ms": other,
                    "llm_ms": col("llm_ms"),
                    "first_chunk_ms": col("first_chunk_ms"),
                    "direct_first_chunk_ms": direct_first[5:],
                    "extra_to_first_chunk_ms": extra_first,
                }.items()
            },
            "floor_ms": {"p50": round(pct(floor, 50), 2), "p99": round(pct(floor, 99), 2)},
            "embedding_alone_ms": {
                "p50": round(pct(embedding_alone, 50), 2),
                "p99": round(pct(embedding_alone, 99), 2),
            },
            "turns": len(rows),
            "mean_platform_ms": round(statistics.mean(platform), 2),
        }
    fake.stop()
    if settings.REDIS_URL:
        from personamcp.celery import app

        app.control.purge()
    return {
        "mode": mode,
        "database": settings.DATABASES["default"]["ENGINE"],
        "sizes": results,
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def scaled_env(database: str = "bench_turn") -> dict:
    """Scaled-mode variables with a fresh PostgreSQL database ``database`` (one per bench, so
    two benches can run at once) and the Redis db ``BENCH_REDIS_DB``."""
    out = subprocess.run(
        [sys.executable, "scripts/services.py", "up"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            key, _, value = line[7:].partition("=")
            env[key] = value.strip().strip("'\"")
    import psycopg

    base = env["DATABASE_URL"]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")
    env["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + database
    redis_db = os.environ.get("BENCH_REDIS_DB", "14")  # a database of its own (it is purged)
    env["REDIS_URL"] = env["REDIS_URL"].rsplit("/", 1)[0] + "/" + redis_db
    return env


def run_mode(
    mode: str, turns: int, sizes: list[int], profile: str = "", vectors: str = "hard"
) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="personamcp.settings",
        PERSONAMCP_SCHEDULER="0",
        LOG_LEVEL="warning",
        HF_HUB_OFFLINE="1",
    )
    tmp = tempfile.mkdtemp(prefix=f"bench-{mode}-")
    env["PERSONAMCP_VAR_DIR"] = tmp
    env["EMBEDDING_CACHE_DIR"] = str(ROOT / "var" / "models")  # the model exported once
    if mode == "scaled":
        env.update(scaled_env())
    env["BENCH_TURN_VECTORS"] = vectors
    if profile:
        env["BENCH_TURN_PROFILE"] = str(Path(profile).resolve())
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--turns",
            str(turns),
            "--sizes",
            ",".join(map(str, sizes)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(report: dict) -> None:
    print(f"\n== {report['mode']} ({report['database'].rsplit('.', 1)[-1]}) ==")
    cols = [
        "platform_ms",
        "embedding_ms",
        "retrieval_ms",
        "prompt_ms",
        "persistence_ms",
        "other_ms",
        "llm_ms",
        "total_ms",
        "direct_first_chunk_ms",
        "extra_to_first_chunk_ms",
        "floor_ms",
        "embedding_alone_ms",
    ]
    print(f"{'memories':>9} " + " ".join(f"{c[:-3]:>22}" for c in cols))
    for size, row in report["sizes"].items():
        cells = [f"{row[c]['p50']:>9.2f} / {row[c]['p99']:>9.2f}" for c in cols]
        print(f"{int(size):>9} " + " ".join(f"{c:>22}" for c in cells))
    print(
        "(each cell: p50 / p99 in ms; platform = total - LLM time; other = platform - the"
        " four parts: lock, conversation, state and relationship lookups, less the time the"
        " embedding overlapped with them, so it can be negative; floor = embedding a new"
        " message + exact numpy top-10, embedding alone = the same embedding with nothing"
        " beside it, both measured after the turns)"
    )
    print(f"load average: {report.get('load', '?')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--sizes", default="0,10000,100000")
    parser.add_argument("--modes", default="embedded,scaled")
    parser.add_argument("--child", default="")
    parser.add_argument("--json", action="store_true", help="print the raw JSON too")
    parser.add_argument(
        "--vectors",
        default="hard",
        choices=("hard", "random"),
        help="the stored memories' vectors (see above)",
    )
    parser.add_argument(
        "--profile",
        default="",
        metavar="DIR",
        help="record the turns under py-spy (collapsed stacks in DIR/turn-<mode>-<size>.txt)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.child:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(args.child, args.turns, sizes)))
        return
    for mode in args.modes.split(","):
        report = run_mode(mode.strip(), args.turns, sizes, args.profile, args.vectors)
        report["vectors"] = args.vectors
        print_table(report)
        print("RESULT " + json.dumps(report))
        if args.json:
            print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
