"""The platform's cost of a game scene: world.event fan-out and room.send routing.

    .venv/bin/python bench/scene.py [--sizes 5,20,100] [--participants 50] [--rounds 60]
                                    [--modes embedded,scaled]

For each runtime mode a child process gets a fresh database (embedded: SQLite + in-process
jobs; scaled: PostgreSQL/pgvector + Redis from ``scripts/services.py up``, database
``bench_scene``, Redis db ``BENCH_REDIS_DB``) and a fake Ollama server on 127.0.0.1
(``tests/conversations/fakes.py``) that answers at once. For each room size it builds a
spatial room of that many personas spread over a 40 x 40 m floor (hearing radius 10 m) with
``--participants`` participants, and for ``--rounds`` rounds:

- moves a random participant (``scene_move``) and reports a ``world.event`` where it stands:
  p50/p99 of the whole call (who is in range, appraisal, one embedding batch, one
  transaction writing all perceivers' memories, moods, relationships and perceptions in a
  fixed number of queries);
- that participant says a line (``room_send``, policy ``natural``, one persona in range
  answers through the full turn pipeline with the instant LLM): p50/p99 of the whole call,
  and of the routing alone (positions read in one query, who is in range, who answers).

Background work (overheard lines, after-turn memories) is waited for between rounds and not
counted. The figures to compare are the per-persona-in-range costs across sizes: routing
should grow no faster than the number of personas in range.
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

from turn_overhead import pct, scaled_env  # bench/ is the script's own directory

ROOT = Path(__file__).resolve().parent.parent
FLOOR = 40.0
RADIUS = 10.0


def stats(values: list[float]) -> dict:
    return {"p50": round(pct(values, 50), 2), "p99": round(pct(values, 99), 2)}


def child(mode: str, sizes: list[int], participants: int, rounds: int) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    sys.path.insert(0, str(ROOT))
    from memory.embeddings import embed_one
    from personamcp import jobs
    from personas.services import persona_create
    from rooms import services as rooms
    from rooms import spatial
    from rooms.selectors import room_get, room_members
    from tests.conversations.fakes import FakeLLMServer
    from worlds.services import world_event

    call_command("migrate", verbosity=0)
    fake = FakeLLMServer("ollama", reply="Aye, I heard you.", delay=0.0)
    fake.start()
    settings.LLM_PROVIDER = "ollama"
    settings.OLLAMA_URL = fake.url
    settings.ROOM_MAX_MEMBERS = max(sizes)
    embed_one("warm up the embedding model")
    rng = random.Random(11)
    cast = [
        persona_create(
            name=f"Patron {i}",
            description="A regular of the bench tavern.",
            personality={"extraversion": rng.random()},
        )
        for i in range(max(sizes))
    ]

    def spot() -> dict:
        return {"x": rng.uniform(0, FLOOR), "y": 0.0, "z": rng.uniform(0, FLOOR)}

    results = {}
    for size in sizes:
        room = rooms.room_create(
            name=f"Bench hall {size}", personas=cast[:size], spatial_room=True,
            hearing_radius=RADIUS,
        )  # fmt: skip
        for persona in cast[:size]:
            spatial.scene_set_position(
                room=room, entity_id=str(persona.id), point=spatial.point_of(spot())
            )
        players = [f"player-{i}" for i in range(participants)]
        for player in players:
            spatial.scene_move(room=room, entity_id=player, position=spot())
        room = room_get(room_id=str(room.id))
        event_ms, event_n, send_ms, route_ms, route_n = [], [], [], [], []
        for i in range(rounds + 3):
            player = rng.choice(players)
            spatial.scene_move(room=room, entity_id=player, position=spot())
            start = time.perf_counter()
            result = world_event(
                event_type=rng.choice(["gift", "attack", "arrive", "custom"]),
                description=f"Round {i}: {player} does something by table {rng.randint(1, 20)}.",
                room=room,
                actor=player,
            )
            took = (time.perf_counter() - start) * 1000
            jobs.wait_idle(120)
            # the routing of a line said by this participant, alone
            start = time.perf_counter()
            scene = spatial.scene_of(room)
            hearers = rooms._hearers(scene, scene.where(player), room_members(room))
            speakers = rooms.room_next_speakers(
                room=room, content="Evening, all.", lines=[], hearers=hearers
            )
            routed = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            rooms.room_send(room=room, content=f"Evening, all ({i}).", sender=player)
            sent = (time.perf_counter() - start) * 1000
            jobs.wait_idle(120)
            if i >= 3:  # warm-up rounds are not counted
                event_ms.append(took)
                event_n.append(len(result["perceived_by"]))
                route_ms.append(routed)
                route_n.append(len(hearers or {}))
                send_ms.append(sent)
                assert len(speakers) <= 1
        in_range = statistics.mean(event_n) or 1.0
        results[size] = {
            "in_range_mean": round(statistics.mean(event_n), 1),
            "world_event_ms": stats(event_ms),
            "world_event_ms_per_perceiver": round(statistics.mean(event_ms) / in_range, 2),
            "room_send_ms": stats(send_ms),
            "routing_ms": stats(route_ms),
            "routing_us_per_persona_in_room": round(1000 * statistics.mean(route_ms) / size, 2),
            "rounds": len(event_ms),
        }
    fake.stop()
    if settings.REDIS_URL:
        from personamcp.celery import app

        app.control.purge()
    return {"mode": mode, "database": settings.DATABASES["default"]["ENGINE"], "sizes": results}


def run_mode(mode: str, sizes: list[int], participants: int, rounds: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="personamcp.settings",
        PERSONAMCP_SCHEDULER="0",
        LOG_LEVEL="warning",
        HF_HUB_OFFLINE="1",
    )
    env["PERSONAMCP_VAR_DIR"] = tempfile.mkdtemp(prefix=f"bench-scene-{mode}-")
    env["EMBEDDING_CACHE_DIR"] = str(ROOT / "var" / "models")
    if mode == "scaled":
        env.update(scaled_env("bench_scene"))  # a fresh PostgreSQL database and a Redis db
    args = ["--child", mode, "--sizes", ",".join(map(str, sizes)),
            "--participants", str(participants), "--rounds", str(rounds)]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, __file__, *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(report: dict) -> None:
    print(f"\n== {report['mode']} ({report['database'].rsplit('.', 1)[-1]}) ==")
    print(
        f"{'personas':>8} {'in range':>8} {'world.event p50/p99':>22} {'per perceiver':>13}"
        f" {'room.send p50/p99':>22} {'routing p50/p99':>18} {'routing us/persona':>18}"
    )
    for size, row in report["sizes"].items():
        ev, send, route = row["world_event_ms"], row["room_send_ms"], row["routing_ms"]
        print(
            f"{int(size):>8} {row['in_range_mean']:>8} {ev['p50']:>10.2f} / {ev['p99']:>9.2f}"
            f" {row['world_event_ms_per_perceiver']:>13.2f}"
            f" {send['p50']:>10.2f} / {send['p99']:>9.2f}"
            f" {route['p50']:>8.3f} / {route['p99']:>7.3f}"
            f" {row['routing_us_per_persona_in_room']:>18.2f}"
        )
    print("(ms; room.send includes one persona's full turn with an instant LLM)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5,20,100")
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--modes", default="embedded,scaled")
    parser.add_argument("--child", default="")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.child:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(args.child, sizes, args.participants, args.rounds)))
        return
    for mode in args.modes.split(","):
        print_table(run_mode(mode, sizes, args.participants, args.rounds))


if __name__ == "__main__":
    main()
