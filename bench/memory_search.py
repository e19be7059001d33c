"""Benchmark of memory retrieval on both backends (SQLite in-process index, PostgreSQL HNSW).

    .venv/bin/python bench/memory_search.py [--sizes 10000,100000] [--backends sqlite,postgres]
                                            [--queries 200] [--ef 64,128,256] [--data hard|real]

For each backend and size it loads that many memories for one persona, then reports:

- ``memory_search`` latency p50/p99, split into embedding the query (real model) and retrieval
  (candidates + rescoring + recording the access), with the benchmark thread's CPU time of
  retrieval (steadier than wall time on a loaded machine) and retrieval as a turn calls it
  (``include_shared``, limit 6);
- recall@10 of the approximate candidate search (faiss HNSW on SQLite, pgvector HNSW on
  PostgreSQL) against exact cosine search, the exact numpy top-10 (the floor) measured in the
  same run, and with ``--ef`` the same at other search breadths;
- ingest throughput of ``memory_store_many`` with real text (embedding included).

Real sentences are embedded for the ingest figure and for the queries. To load 100k memories
quickly, the bulk rows get synthetic vectors around real sentence embeddings (``synthetic()``:
``hard`` near-duplicates by default, ``real``-shaped noise with ``--data real``). PostgreSQL
comes from ``scripts/services.py`` (a separate database, ``BENCH_PG_DB`` or
``personamcp_bench``); SQLite is a file under ``var/bench/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBJECTS = [
    "Bob",
    "the innkeeper",
    "my sister",
    "the blacksmith",
    "Captain Vell",
    "a stranger",
    "the old priest",
    "Mara",
    "the mayor",
    "a travelling bard",
    "the guard",
    "my father",
]
VERBS = [
    "paid",
    "lost",
    "stole",
    "found",
    "sold",
    "borrowed",
    "hid",
    "broke",
    "promised",
    "forgot",
    "repaired",
    "gave away",
]
OBJECTS = [
    "three silver coins",
    "the map of the coast",
    "a wooden sword",
    "the tavern keys",
    "a letter from the north",
    "the red horse",
    "a bottle of wine",
    "the old lantern",
    "a ring of iron",
    "the harvest records",
    "a songbook",
    "the bridge toll",
]
PLACES = [
    "at the market",
    "by the river",
    "in the cellar",
    "during the storm",
    "at the harbour",
    "after the festival",
    "near the mill",
    "on the road to town",
]
QUESTIONS = ["Who took {o}?", "What happened {p}?", "Tell me about {s}.",
             "Where is {o} now?", "Did {s} pay back what they owe?", "What do you remember {p}?"]  # fmt: skip


def sentences(n: int, seed: int = 0) -> list[str]:
    import random

    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
        f"{rng.choice(PLACES)} (note {i})."
        for i in range(n)
    ]


def questions(n: int, seed: int = 1) -> list[str]:
    import random

    rng = random.Random(seed)
    return [
        rng.choice(QUESTIONS).format(
            s=rng.choice(SUBJECTS), o=rng.choice(OBJECTS), p=rng.choice(PLACES)
        )
        + f" ({i})"
        for i in range(n)
    ]


def pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values) * 1000.0, q))


def rss_mib() -> float:
    """This process's resident memory (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def copy_rows(persona, first: int, vecs, rng) -> list[int]:
    """Bulk-load synthetic memories on PostgreSQL with one binary ``COPY``; their ids.

    Every column goes in PostgreSQL's binary format (the vectors through pgvector's binary
    dumper), so a million rows load in minutes instead of the ORM's much longer.
    """
    from django.db import connection, transaction
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    from memory.candidates import raw_pg_connection

    now = timezone.now()
    columns = (
        "persona_id, content, kind, importance, visibility, about, superseded, created_at, "
        "last_accessed_at, access_count, metadata, embedding"
    )
    types = ["uuid", "text", "text", "float8", "text", "text", "bool", "timestamptz",
             "timestamptz", "int4", "jsonb", "vector"]  # fmt: skip
    importances = rng.uniform(0.05, 0.95, len(vecs))
    meta = Jsonb({"synthetic": True})
    with transaction.atomic():
        raw = raw_pg_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM memory_memory")
            before = cursor.fetchone()[0]
        with raw.cursor() as cur:
            sql = f"COPY memory_memory ({columns}) FROM STDIN WITH (FORMAT BINARY)"
            with cur.copy(sql) as copy:
                copy.set_types(types)
                for i, vec in enumerate(vecs):
                    copy.write_row((persona.id, f"synthetic memory {first + i}", "episodic",
                                    float(importances[i]), "private", "", False, now, now, 0,
                                    meta, vec))  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM memory_memory WHERE id > %s ORDER BY id", [before])
            return [row[0] for row in cursor.fetchall()]


NOISE = 0.035  # per dimension: a noise vector of norm 0.035 * sqrt(384) = 0.69


def synthetic(base, count: int, rng, data: str = "hard"):
    """``count`` unit vectors around real sentence embeddings ``base``.

    ``hard`` (the default, reported first): each is a copy of one base embedding plus Gaussian
    noise in all 384 dimensions. The copies of one sentence are then near-duplicates separated
    by noise that no real text has (90 % of its variance needs 279 principal components against
    38 for the real embeddings): the 10 nearest of a query are copies of one sentence ranked
    by noise, with a median gap of 0.0007 between the 10th and the 11th, the worst case for a
    graph index. ``real``: the same noise magnitude, but shaped like the differences between
    real sentence embeddings (drawn with their covariance), so a memory differs from its
    neighbours the way real sentences differ.
    """
    import numpy as np

    picks = base[rng.integers(0, len(base), count)]
    if data == "hard":
        noise = rng.normal(scale=NOISE, size=picks.shape)
    elif data == "real":
        centred = base - base.mean(axis=0)
        _, sv, vt = np.linalg.svd(centred, full_matrices=False)
        shape = (sv / np.sqrt((sv**2).sum()))[:, None] * vt  # unit total variance
        noise = rng.normal(size=(count, len(sv))) @ shape * (NOISE * np.sqrt(base.shape[1]))
    else:
        raise SystemExit(f"unknown data set {data!r} (hard, real)")
    vecs = picks + noise.astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs.astype(np.float32)


def build_hnsw(sql: str, rows: int) -> None:
    """Build the PostgreSQL HNSW index with enough memory for the whole graph.

    pgvector builds the graph in ``maintenance_work_mem``; when it stops fitting it says so in
    a NOTICE and goes on inserting tuple by tuple on disk, many times slower. About 2.5 KiB per
    384-dimension vector at m = 16, so the benchmark sets 4 KiB per row (at least 1 GiB), and
    one parallel worker besides the leader (two cores). The NOTICEs and the build's progress
    (``pg_stat_progress_create_index``, read from a second connection) are printed.
    """
    import threading

    import psycopg
    from django.db import connection

    from memory.candidates import raw_pg_connection

    mwm_mb = max(1024, rows * 4 // 1024)
    workers = int(os.environ.get("BENCH_PG_BUILD_WORKERS", "1"))
    raw = raw_pg_connection()
    raw.add_notice_handler(lambda d: print(f"  NOTICE {d.message_primary}", flush=True))
    done = threading.Event()
    pid = raw.info.backend_pid
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")
    started = time.perf_counter()

    def progress() -> None:
        with psycopg.connect(url, autocommit=True) as watch:
            while not done.wait(60):
                row = watch.execute(
                    "SELECT phase, tuples_done, tuples_total, blocks_done, blocks_total "
                    "FROM pg_stat_progress_create_index WHERE pid = %s", [pid],
                ).fetchone()  # fmt: skip
                if row:
                    print(f"  build {time.perf_counter() - started:5.0f}s: {row[0]}, "
                          f"tuples {row[1]}/{row[2]}, blocks {row[3]}/{row[4]}", flush=True)  # fmt: skip

    watcher = threading.Thread(target=progress, daemon=True)
    watcher.start()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET maintenance_work_mem = '{mwm_mb}MB'")
            cursor.execute(f"SET max_parallel_maintenance_workers = {workers}")
            print(f"  HNSW build: {sql.split('WITH', 1)[-1].strip()}, maintenance_work_mem "
                  f"{mwm_mb} MB, {workers} parallel worker(s)", flush=True)  # fmt: skip
            cursor.execute(sql)
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute("ANALYZE memory_memory")
    finally:
        done.set()


# --- child: one backend -------------------------------------------------------------------------


@contextlib.contextmanager
def search_breadth(backend: str, ef: int):
    """Run the candidate search at another breadth: faiss efSearch or ``hnsw.ef_search``."""
    from django.conf import settings

    key = "ANN_EF_SEARCH" if backend == "sqlite" else "HNSW_EF_SEARCH"
    before = settings.MEMORY[key]
    settings.MEMORY[key] = ef
    if backend == "postgres":
        from memory.candidates import raw_pg_connection

        raw_pg_connection().execute(f"SET hnsw.ef_search = {int(ef)}")
    try:
        yield
    finally:
        settings.MEMORY[key] = before
        if backend == "postgres":
            raw_pg_connection().execute(f"SET hnsw.ef_search = {int(before)}")


def run_backend(
    backend: str, sizes: list[int], n_queries: int, ef_sweep: list[int], data: str = "hard"
) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "personamcp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command
    from django.db import connection, transaction

    from memory import index
    from memory.candidates import pg_candidates
    from memory.embeddings import embed, embedding_info
    from memory.models import Memory
    from memory.selectors import memory_search
    from memory.services import _bump, memory_store_many
    from personas.services import persona_create

    call_command("migrate", verbosity=0)
    persona = persona_create(name="Bench Keeper", slug="bench-keeper")
    info = embedding_info()
    print(f"\n=== {backend} ({connection.vendor}) · embeddings {info['model']} on "
          f"{embedding_info()['backend']} · data {data} ===", flush=True)  # fmt: skip

    # Ingest with real text (embedding included).
    # The floor: the raw batch embedding rate of the same texts in the same batches.
    ingest_n = 2000
    texts = sentences(ingest_n, seed=42)
    embed(sentences(256, seed=41))  # warm the model up
    started = time.perf_counter()
    for start in range(0, ingest_n, 256):
        embed(texts[start : start + 256])
    embed_rate = ingest_n / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, ingest_n, 256):
        memory_store_many(
            persona=persona,
            items=[{"content": t} for t in texts[start : start + 256]],
            publish=False,
        )
    ingest_s = time.perf_counter() - started
    print(f"ingest: {ingest_n} memories with real text in {ingest_s:.1f}s = "
          f"{ingest_n / ingest_s:.0f} memories/s (embedding + insert + index upkeep); raw batch "
          f"embedding {embed_rate:.0f}/s; ratio {ingest_n / ingest_s / embed_rate:.2f}", flush=True)  # fmt: skip
    info = embedding_info()

    # Topic centres for synthetic vectors: real sentence embeddings.
    base = embed(sentences(3000, seed=7))
    rng = np.random.default_rng(0)
    loaded = Memory.objects.filter(persona=persona).count()
    all_ids = list(
        Memory.objects.filter(persona=persona).order_by("id").values_list("id", flat=True)
    )
    all_vecs = [
        np.stack(
            list(
                Memory.objects.filter(persona=persona)
                .order_by("id")
                .values_list("embedding", flat=True)
            )
        )
    ]
    qtexts = questions(n_queries)

    for size in sizes:
        need = size - loaded
        load_s = index_s = 0.0
        if need > 0:
            if backend == "postgres":
                with connection.cursor() as cursor:
                    cursor.execute("DROP INDEX IF EXISTS memory_embedding_hnsw")
            started = time.perf_counter()
            chunk = 20000 if backend == "postgres" else 5000
            for start in range(0, need, chunk):
                count = min(chunk, need - start)
                vecs = synthetic(base, count, rng, data)
                vecs = vecs.astype(np.float32)
                if backend == "postgres":  # one binary COPY per chunk
                    all_ids += copy_rows(persona, loaded + start, vecs, rng)
                    all_vecs.append(vecs)
                    continue
                rows = [
                    Memory(persona=persona, content=f"synthetic memory {loaded + start + i}",
                           importance=float(rng.uniform(0.05, 0.95)), embedding=v,
                           metadata={"synthetic": True})
                    for i, v in enumerate(vecs)
                ]  # fmt: skip
                with transaction.atomic():
                    created = Memory.objects.bulk_create(rows, batch_size=1000)
                all_ids += [m.id for m in created]
                all_vecs.append(vecs)
            with transaction.atomic():
                _bump(persona.id, layout=False)
            load_s = time.perf_counter() - started
            loaded = size
            if backend == "postgres":
                import importlib

                migration = importlib.import_module("memory.migrations.0004_hnsw_halfvec")
                started = time.perf_counter()
                build_hnsw(migration.HNSW_SQL, loaded)
                index_s = time.perf_counter() - started
        ids = np.asarray(all_ids, dtype=np.int64)
        matrix = np.concatenate(all_vecs)
        prep = ""
        if backend == "sqlite":
            started = time.perf_counter()
            index.wait_ready(persona.id)
            prep = f", index load+HNSW build {time.perf_counter() - started:.1f}s"
            stats = index.stats(persona.id)
            prep += " (HNSW)" if stats["graph_rows"] else " (exact)"
        else:
            prep = f", HNSW build {index_s:.1f}s"
        print(f"\n-- {size} memories (bulk load {load_s:.1f}s{prep})", flush=True)

        # Latency: embedding the query vs retrieval (memory_search with the embedding).
        memory_search(persona=persona, query="warm up", limit=10)
        emb_t, ret_t, tot_t, cpu_t, query_vecs = [], [], [], [], []
        for q in qtexts:
            t0 = time.perf_counter()
            vec = embed([q])[0]
            t1 = time.perf_counter()
            c1 = time.thread_time()
            memory_search(persona=persona, query_embedding=vec, limit=10)
            c2 = time.thread_time()
            t2 = time.perf_counter()
            emb_t.append(t1 - t0)
            ret_t.append(t2 - t1)
            tot_t.append(t2 - t0)
            cpu_t.append(c2 - c1)
            query_vecs.append(vec)
        # As a turn calls it: with the shared/public memories of related personas (none here,
        # but the sharing plan is read) and limit 6 (CONVERSATION_MEMORY_LIMIT).
        turn_t = []
        for vec in query_vecs:
            t1 = time.perf_counter()
            memory_search(persona=persona, query_embedding=vec, limit=6, include_shared=True)
            turn_t.append(time.perf_counter() - t1)
        print(f"embedding   p50 {pct(emb_t, 50):6.2f} ms  p99 {pct(emb_t, 99):6.2f} ms")
        print(f"retrieval   p50 {pct(ret_t, 50):6.2f} ms  p99 {pct(ret_t, 99):6.2f} ms  "
              f"(this thread's CPU p50 {pct(cpu_t, 50):.2f} ms; the database server's is not in it)")  # fmt: skip
        print(
            f"retrieval as a turn calls it (include_shared, limit 6) p50 {pct(turn_t, 50):6.2f} ms"
        )
        print(f"total       p50 {pct(tot_t, 50):6.2f} ms  p99 {pct(tot_t, 99):6.2f} ms")

        # Recall@10 of the approximate candidate search against exact cosine.
        # The exact search itself (numpy over the whole matrix) is the floor of retrieval.
        exact_sets, exact_t = [], []
        for vec in query_vecs:
            t0 = time.perf_counter()
            exact_sets.append(set(ids[np.argpartition(-(matrix @ vec), 10)[:10]].tolist()))
            exact_t.append(time.perf_counter() - t0)

        def candidates_recall(query_vecs=query_vecs, exact_sets=exact_sets):
            """recall@10 of the candidate query against exact, and its latencies."""
            hits, times = 0, []
            for vec, exact in zip(query_vecs, exact_sets, strict=True):
                t0 = time.perf_counter()
                if backend == "sqlite":
                    approx = {i for i, _ in index.search(persona.id, vec, 10)}
                else:
                    approx = {row[0] for row in pg_candidates(persona, vec, 10)}
                times.append(time.perf_counter() - t0)
                hits += len(approx & exact)
            return hits / (10 * len(query_vecs)), times

        recall, cand_t = candidates_recall()
        path = "HNSW" if backend == "sqlite" and index.stats(persona.id)["graph_rows"] else (
            "exact" if backend == "sqlite" else "HNSW")  # fmt: skip
        print(f"recall@10 ({path} vs exact) {recall:.3f}  · candidate query alone p50 "
              f"{pct(cand_t, 50):.2f} ms", flush=True)  # fmt: skip
        print(f"exact numpy top-10 p50 {pct(exact_t, 50):.2f} ms", flush=True)
        sweep = {}
        for ef in ef_sweep:  # the same queries at other search breadths
            with search_breadth(backend, ef):
                r, t = candidates_recall()
            sweep[ef] = {"recall_at_10": r, "candidates_p50": pct(t, 50)}
            print(f"  ef_search {ef:4d}: recall@10 {r:.3f} · candidate query p50 "
                  f"{pct(t, 50):.2f} ms", flush=True)  # fmt: skip
        floor = pct(emb_t, 50) + pct(exact_t, 50)
        print(f"search end to end p50 {pct(tot_t, 50):.2f} ms / floor (embedding + exact numpy) "
              f"{floor:.2f} ms = {pct(tot_t, 50) / floor:.2f}x", flush=True)  # fmt: skip
        rss = rss_mib()
        print(f"process RSS {rss:.0f} MiB", flush=True)
        print("RESULT " + json.dumps({
            "backend": backend, "size": size, "data": data, "embedding_p50": pct(emb_t, 50),
            "embedding_p99": pct(emb_t, 99), "retrieval_p50": pct(ret_t, 50),
            "retrieval_p99": pct(ret_t, 99), "retrieval_cpu_p50": pct(cpu_t, 50),
            "retrieval_turn_p50": pct(turn_t, 50), "total_p50": pct(tot_t, 50),
            "total_p99": pct(tot_t, 99), "recall_at_10": recall,
            "ingest_per_s": ingest_n / ingest_s, "embedding_backend": info["backend"],
            "embed_batch_per_s": embed_rate, "exact_p50": pct(exact_t, 50),
            "candidates_p50": pct(cand_t, 50), "floor_p50": floor, "rss_mib": rss,
            "ef_sweep": sweep, "load_average": os.getloadavg(),
        }), flush=True)  # fmt: skip


# --- parent: set up databases, run each backend in its own process ---------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--ef", default="", help="search breadths to sweep for recall, e.g. 64,128,256"
    )
    parser.add_argument("--data", default="hard", choices=("hard", "real"),
                        help="synthetic vectors: hard (near-duplicates, default) or real-shaped")  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    if args.child:
        ef_sweep = [int(e) for e in args.ef.split(",") if e]
        run_backend(args.child, sizes, args.queries, ef_sweep, args.data)
        return
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base_env["PERSONAMCP_SCHEDULER"] = "0"
    base_env.setdefault("LOG_LEVEL", "warning")
    for backend in args.backends.split(","):
        env = dict(base_env)
        if backend == "sqlite":
            folder = ROOT / "var" / "bench"
            folder.mkdir(parents=True, exist_ok=True)
            db = folder / "memory_bench.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            env["DATABASE_URL"] = f"sqlite:///{db}"
        elif backend == "postgres":
            up = subprocess.run(
                [sys.executable, str(ROOT / "scripts" / "services.py"), "up"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            urls = dict(
                line.removeprefix("export ").split("=", 1)
                for line in up.stdout.splitlines()
                if "=" in line
            )
            admin_url = urls["DATABASE_URL"].strip("'\"")
            # BENCH_PG_DB: another name, so that two runs at once do not drop each other's data.
            db_name = os.environ.get("BENCH_PG_DB", "personamcp_bench")
            if not db_name.replace("_", "").isalnum():
                raise SystemExit(f"BENCH_PG_DB must be a plain identifier, not {db_name!r}")
            import psycopg

            with psycopg.connect(
                admin_url.replace("postgres://", "postgresql://"), autocommit=True
            ) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {db_name}")
                conn.execute(f"CREATE DATABASE {db_name}")
            env["DATABASE_URL"] = admin_url.rsplit("/", 1)[0] + "/" + db_name
        else:
            raise SystemExit(f"unknown backend {backend}")
        subprocess.run(
            [sys.executable, __file__, "--child", backend, "--sizes", args.sizes,
             "--queries", str(args.queries), "--ef", args.ef, "--data", args.data],
            env=env, check=True, cwd=ROOT,
        )  # fmt: skip


if __name__ == "__main__":
    main()
