"""Lore selection per turn: World Info scanning over 10, 1,000 and 10,000 entries.

    .venv/bin/python bench/lore_scan.py [--runs 300] [--sizes 10,1000,10000] [--turns 40]

Part 1 (the engine alone, ``lore.engine.select_entries``): a lorebook of N generated entries
(2-3 keys each from a 600-word vocabulary and two-word names; 30% whole-word, 20% selective
with secondary keys in all four logics, 5% regular expressions, 1% constant, recursion on) and
a history of 50 messages of ~30 words. The entries are compiled once (as the server caches
them per book version); each run scans the book's scan depth (2) and, separately, all 50
messages. Reports p50/p99 in ms and how many entries fired. The goal: under 1 ms at 1,000.

Part 2 (in a real turn): an embedded server process (SQLite, in-process jobs) runs ``--turns``
turns through ``conversations.services.conversation_send_message`` against a fake OpenAI
server that answers at once, once with no lorebook and once with a 1,000-entry book attached;
it reports the platform cost of a turn (total - LLM time), the pipeline's ``lore_ms`` and lore
as a share of the platform cost.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(ROOT))

SYLLABLES = ["ka", "lo", "mi", "ra", "ten", "dor", "vel", "an", "is", "ur", "bel", "sho", "ni"]


def vocabulary(
    rng: random.Random, size: int = 600, syllables: tuple[int, int] = (2, 3)
) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(*syllables))))
    return sorted(words)


class World:
    """Common words for the chat, and proper names (5 syllables: never common words) for keys."""

    def __init__(self, rng: random.Random):
        self.words = vocabulary(rng, 400, (2, 3))
        self.names = vocabulary(rng, 40_000, (5, 5))
        self.rng = rng

    def sentence(self, n: int, names: list[str]) -> str:
        out = [self.rng.choice(self.words) for _ in range(n)]
        for name in names:
            out.insert(self.rng.randrange(len(out)), name)
        return " ".join(out)


def make_entries(n: int, rng: random.Random, world: World) -> list[dict]:
    entries = []
    for i in range(n):
        a, b, c = world.names[3 * i], world.names[3 * i + 1], world.names[3 * i + 2]
        ext: dict = {"position": rng.choice([0, 1, 4]), "depth": rng.randint(0, 4)}
        mentions = [world.names[3 * rng.randrange(n)]] if rng.random() < 0.1 else []
        entry = {
            "id": i,
            "keys": [a, f"{b} {c}"],
            "content": world.sentence(40, mentions),
            "extensions": ext,
            "enabled": True,
            "insertion_order": rng.randint(0, 500),
        }
        if rng.random() < 0.30:
            ext["match_whole_words"] = True
        if rng.random() < 0.20:
            entry["selective"] = True
            entry["secondary_keys"] = [rng.choice(world.words) for _ in range(2)]
            ext["selectiveLogic"] = rng.randint(0, 3)
        if rng.random() < 0.05:
            entry["keys"] = [f"/\\b{a}(s|es)?\\b/i"]
        if rng.random() < 0.01:
            entry["constant"] = True
        entries.append(entry)
    return entries


def make_history(rng: random.Random, world: World, n: int, entries: int):
    """``n`` messages of ~30 words; one in four names a lore key (a first key of an entry)."""
    from lore.engine import ScanMessage

    return [
        ScanMessage(
            rng.choice(["Ann", "Mira"]),
            world.sentence(
                30, [world.names[3 * rng.randrange(entries)]] if rng.random() < 0.25 else []
            ),
        )
        for _ in range(n)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def engine_part(sizes: list[int], runs: int) -> list[dict]:
    from lore.engine import ScanSettings, compile_entries, select_entries

    rng = random.Random(7)
    world = World(rng)
    rows = []
    for size in sizes:
        entries = make_entries(size, rng, world)
        history = make_history(rng, world, 50, size)
        for depth in (2, 50):
            settings = ScanSettings(
                scan_depth=depth, token_budget=2048, recursive_scanning=True, max_recursion_steps=3
            )
            start = time.perf_counter()
            compiled = compile_entries(entries, lorebook_id="bench", settings=settings)
            compile_ms = (time.perf_counter() - start) * 1000
            times, fired = [], 0
            for i in range(runs):
                # a different new message each run, from the same vocabulary
                new = make_history(random.Random(i), world, 1, size)
                messages = [*history, *new]
                start = time.perf_counter()
                selection = select_entries(compiled, messages, settings, rng=random.Random(i))
                times.append((time.perf_counter() - start) * 1000)
                fired += len(selection.activated) + len(selection.dropped)
            rows.append(
                {
                    "entries": size,
                    "scan_depth": depth,
                    "p50_ms": round(statistics.median(times), 4),
                    "p99_ms": round(percentile(times, 0.99), 4),
                    "fired_avg": round(fired / runs, 1),
                    "compile_ms": round(compile_ms, 2),
                }
            )
    return rows


CHILD = r"""
import json, os, random, statistics, sys, time
sys.path.insert(0, os.environ["BENCH_ROOT"])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "personamcp.settings")
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.conversations.fakes import FakeLLMServer
from bench.lore_scan import World, make_entries
from conversations.services import conversation_send_message
from lore.services import lorebook_attach, lorebook_create
from personas.services import persona_create

turns = int(os.environ["BENCH_TURNS"])
out = {}
with FakeLLMServer("openai") as server:
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = server.url
    settings.OPENAI_API_KEY = "sk-bench"
    settings.LLM_MODEL = "fake"
    rng = random.Random(3)
    world = World(rng)
    for label, size in (("no_lore", 0), ("lore_1000", 1000)):
        persona = persona_create(name=f"Bench {label}")
        if size:
            book = lorebook_create(book={"recursive_scanning": True, "token_budget": 1024,
                                         "entries": make_entries(size, rng, world)}, name="bench")
            lorebook_attach(lorebook=book, persona=persona)
        platform, lore = [], []
        for i in range(turns + 3):
            text = world.sentence(20, [world.names[3 * rng.randrange(1000)]]) + f" {i}"
            result = conversation_send_message(persona=persona, content=text, sender="bench")
            t = result["timing"]
            if i >= 3:  # warm-up: model load, caches, first compile
                platform.append(t["total_ms"] - t["llm_ms"])
                lore.append(t.get("lore_ms") or 0.0)
        out[label] = {"platform_p50_ms": statistics.median(platform),
                      "lore_p50_ms": statistics.median(lore)}
print(json.dumps(out))
"""


def turn_part(turns: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            {
                "BENCH_ROOT": str(ROOT),
                "BENCH_TURNS": str(turns),
                "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
                "PERSONAMCP_SCHEDULER": "0",
                "PERSONAMCP_WARMUP": "0",
                "MEDIA_ROOT": f"{tmp}/media",
            }
        )
        proc = subprocess.run(
            [sys.executable, "-c", CHILD],
            env=env,
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--skip-turns", action="store_true", help="only the engine part")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "personamcp.settings")
    import django

    django.setup()
    rows = engine_part([int(s) for s in args.sizes.split(",")], args.runs)
    print("lore selection (engine), history of 50 messages, recursion on:")
    print(
        f"{'entries':>8} {'depth':>6} {'p50 ms':>9} {'p99 ms':>9} {'fired':>6} {'compile ms':>11}"
    )
    for r in rows:
        print(
            f"{r['entries']:>8} {r['scan_depth']:>6} {r['p50_ms']:>9.4f} {r['p99_ms']:>9.4f} "
            f"{r['fired_avg']:>6} {r['compile_ms']:>11.2f}"
        )
    goal = (
        next(r for r in rows if r["entries"] == 1000 and r["scan_depth"] == 2)
        if any(r["entries"] == 1000 for r in rows)
        else None
    )
    if goal:
        verdict = "meets" if goal["p50_ms"] < 1 else "misses"
        print(f"goal < 1 ms at 1,000 entries (scan depth 2): p50 {goal['p50_ms']} ms, {verdict}")
    if args.skip_turns:
        return
    turn = turn_part(args.turns)
    base = turn["no_lore"]["platform_p50_ms"]
    with_lore = turn["lore_1000"]["platform_p50_ms"]
    lore_ms = turn["lore_1000"]["lore_p50_ms"]
    print(f"\nturn platform cost (total - LLM), p50 over {args.turns} turns, embedded mode:")
    print(f"  no lorebook:            {base:8.2f} ms")
    print(f"  1,000-entry lorebook:   {with_lore:8.2f} ms  (lore step {lore_ms:.3f} ms)")
    print(f"  lore share of the turn: {100 * lore_ms / with_lore:.2f} %")


if __name__ == "__main__":
    main()
