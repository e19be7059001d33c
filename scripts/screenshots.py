"""``make screenshots``: pictures of the admin overview, a persona page and the relationship
graph for the README, saved under ``docs/img/``.

A throw-away embedded installation (a temporary ``PERSONAMCP_VAR_DIR``) gets the demo personas,
a few dozen real turns through the pipeline (offline LLM) spread over the last hour, some
relationships between the personas and a week of mood readings, then a daphne process serves
it and headless Chromium takes the pictures as a superuser.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
PASSWORD = "screenshots-only"
MESSAGES = [
    "Good evening! Is there a room free tonight?",
    "What is the strangest thing you have seen this week?",
    "Tell me about the old tower.",
    "I brought you a shiny button.",
    "Do you remember me from last winter?",
    "The road from the north is flooded again.",
    "Who was that hooded traveller?",
    "Can you keep a secret?",
]


def populate() -> None:
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from conversations.models import Message
    from conversations.services import conversation_send_message
    from dashboard.models import StateSample
    from memory.models import Memory
    from personamcp.jobs import wait_idle
    from personas.models import Persona, Relationship

    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    get_user_model().objects.create_superuser("admin", "admin@example.org", PASSWORD)
    cast = {p.slug: p for p in Persona.objects.all()}
    rng = random.Random(7)
    players = [("game:mira", "Mira"), ("@bob:example.org", "Bob"), ("game:tam", "Tam")]
    for _ in range(36):
        slug = rng.choice(list(cast))
        sender, name = rng.choice(players)
        conversation_send_message(
            persona=cast[slug], content=rng.choice(MESSAGES), sender=sender, sender_name=name
        )
    wait_idle(60)
    # Spread the turns over the last hour (they all ran just now) and give them the latencies a
    # small local model would have, so that the charts have a shape.
    now = timezone.now()
    for i, msg in enumerate(Message.objects.filter(role="assistant").order_by("id")):
        at = now - timedelta(minutes=58 - i * 1.6 + rng.random())
        llm = rng.lognormvariate(6.6, 0.45)
        own = msg.timings.get("total_ms", 0) - msg.timings.get("llm_ms", 0)
        timings = {**msg.timings, "llm_ms": llm, "total_ms": llm + max(own, 4.0)}
        tokens = int(llm / 12)
        Message.objects.filter(pk=msg.pk).update(
            created_at=at, timings=timings, completion_tokens=tokens, prompt_tokens=tokens * 9
        )
        Message.objects.filter(pk=msg.pk - 1).update(created_at=at)
    replies = list(Message.objects.filter(role="assistant").values_list("pk", flat=True))
    Message.objects.filter(pk__in=rng.sample(replies, 2)).update(
        status="failed", error="ollama backend timed out"
    )
    ties = [
        ("alice", "rook", 0.55, 0.4, "friend"),
        ("rook", "alice", 0.35, 0.2, "acquaintance"),
        ("alice", "pip", 0.8, 0.7, "close_friend"),
        ("pip", "alice", 0.7, 0.6, "friend"),
        ("pip", "rook", -0.45, -0.3, "rival"),
        ("rook", "pip", -0.2, -0.1, "acquaintance"),
        ("elias", "alice", 0.3, 0.5, "acquaintance"),
        ("elias", "rook", 0.6, 0.3, "friend"),
    ]
    for a, b, affinity, trust, stage in ties:
        Relationship.objects.update_or_create(
            persona=cast[a],
            other_id=str(cast[b].id),
            defaults={"other_kind": "persona", "other_name": cast[b].name, "affinity": affinity,
                      "trust": trust, "stage": stage, "interactions": rng.randint(3, 30)},
        )  # fmt: skip
    alice = cast["alice"]
    StateSample.objects.filter(persona=alice).delete()
    for h in range(0, 7 * 24, 3):
        at = now - timedelta(hours=7 * 24 - h)
        StateSample.objects.create(
            persona=alice,
            at=at,
            mood=round(0.35 * math.sin(h / 14) + 0.15 * math.sin(h / 3.1) + 0.1, 3),
            energy=round(0.55 + 0.3 * math.cos(h / 12) + 0.05 * rng.random(), 3),
            emotion="content",
        )
    for text, days in [
        ("Regulars trust me more when I remember the little things about them.", 5),
        ("Rook's riddles are a way of asking for company.", 3),
        ("Mira comes by when the road is bad; she worries about her brother.", 1),
    ]:
        Memory.objects.create(
            persona=alice,
            content=text,
            kind="reflection",
            importance=0.8,
            created_at=now - timedelta(days=days),
            embedding=[0.0] * 384,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoot(base: str) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page.emulate_media(color_scheme="light")
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        for name, path in [
            ("overview", "/admin/"),
            ("persona", "/admin/dashboard/personas/alice/"),
            ("graph", "/admin/dashboard/graph/"),
        ]:
            page.goto(base + path)
            page.wait_for_timeout(600)
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
            print(f"saved docs/img/{name}.png", flush=True)
        browser.close()


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="screenshots-"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "PERSONAMCP_VAR_DIR": str(tmp),
        "EMBEDDING_CACHE_DIR": str(ROOT / "var" / "models"),
        "DJANGO_SETTINGS_MODULE": "personamcp.settings",
        "PERSONAMCP_SCHEDULER": "0",
        "PERSONAMCP_WARMUP": "0",
        "HF_HUB_OFFLINE": "1",
    }
    server = None
    try:
        subprocess.run([sys.executable, __file__, "--populate"], cwd=ROOT, env=env, check=True)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "personamcp.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        shoot(f"http://127.0.0.1:{port}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if "--populate" in sys.argv:
        sys.path.insert(0, str(ROOT))
        populate()
    else:
        sys.exit(main())
