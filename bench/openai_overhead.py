"""The platform cost of the OpenAI-compatible door against ``conversation.send_message`` over /mcp.

    .venv/bin/python bench/openai_overhead.py [--turns 300] [--warmup 20]

One daphne server (embedded mode: a fresh SQLite database under a temporary folder) answers
both doors; its LLM is a fake OpenAI-compatible server on 127.0.0.1 (``tests/conversations/
fakes.py``) that answers at once, so the time measured is the platform's own. The same turns
alternate between

- ``POST /v1/chat/completions`` (the ``openai`` wire format, non-streaming), and
- ``POST /mcp`` with ``conversation.send_message`` (JSON-RPC),

each door with its own participant (so each keeps its own conversation and history of the same
length), over one keep-alive HTTP connection per door. It prints p50/p99 of the round trip and
of the server's own turn time (``timing.total_ms``, from the stored turn) per door, and the
difference between the doors. The goal: the two doors within 1 ms of each other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=300, help="measured turns per door")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured turns per door")
    args = parser.parse_args()

    from tests.conversations.fakes import FakeLLMServer

    tmp = Path(tempfile.mkdtemp(prefix="openai-overhead-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    fake = FakeLLMServer("openai", reply="Right then, traveller. The road is open.", delay=0.0)
    fake.start()
    env.update(
        PERSONAMCP_VAR_DIR=str(tmp),
        PERSONAMCP_DEV_MODE="0",
        PERSONAMCP_RATE_LIMIT="100000000",
        PERSONAMCP_SCHEDULER="0",
        EMBEDDING_CACHE_DIR=str(ROOT / "var" / "models"),
        LLM_PROVIDER="openai",
        OPENAI_BASE_URL=fake.url,
        LLM_MODEL="fake",
        LOG_LEVEL="warning",
    )
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "seed_demo")
    key = (
        _manage(
            env,
            "shell",
            "-c",
            "from personamcp.services import api_key_create; "
            "print('KEY', api_key_create(name='bench', scope='write', personas=[])[1])",
        )
        .split("KEY ", 1)[1]
        .strip()
    )
    port = _free_port()
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - the server process writes it
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "personamcp.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", proc)
        headers = {"Authorization": f"Bearer {key}"}
        openai_http = httpx.Client(base_url=base, headers=headers, timeout=60)
        mcp_http = httpx.Client(base_url=base, headers=headers, timeout=60)
        wall: dict[str, list[float]] = {"openai": [], "mcp": []}
        ids: dict[str, list[int]] = {"openai": [], "mcp": []}

        def openai_turn(text: str) -> int:
            response = openai_http.post(
                "/v1/chat/completions",
                json={
                    "model": "alice",
                    "user": "bench-openai",
                    "messages": [{"role": "user", "content": text}],
                },
            )
            response.raise_for_status()
            return response.json()["persona_mcp"]["message_id"]

        def mcp_turn(text: str) -> int:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "conversation.send_message",
                "params": {"persona_id": "alice", "content": text, "sender": "bench-mcp"},
            }
            response = mcp_http.post("/mcp", json=body)
            response.raise_for_status()
            return response.json()["result"]["message_id"]

        doors = {"openai": openai_turn, "mcp": mcp_turn}
        for i in range(args.warmup + args.turns):
            order = ("openai", "mcp") if i % 2 == 0 else ("mcp", "openai")
            for door in order:
                text = f"Turn {i}: what news of the {door} road, {i * 7 % 13} leagues north?"
                started = time.perf_counter()
                message_id = doors[door](text)
                elapsed = (time.perf_counter() - started) * 1000
                if i >= args.warmup:
                    wall[door].append(elapsed)
                    ids[door].append(message_id)
            time.sleep(0.005)  # let the after-turn job of this pair start outside the next turn
        server_ms = _server_timings(env, ids)
    finally:
        proc.terminate()
        proc.wait(15)
        fake.stop()
        log.close()

    # The door's own cost: the round trip minus the turn inside the service (same pipeline for
    # both doors): HTTP, auth, parsing, dispatch and shaping of the answer.
    door_ms = {d: [w - s for w, s in zip(wall[d], server_ms[d], strict=True)] for d in wall}
    print(f"turns per door: {args.turns} (after {args.warmup} warm-up), LLM: instant fake")
    print(
        f"{'door':<28}{'round trip p50':>15}{'p99':>9}{'turn p50':>10}{'p99':>9}"
        f"{'door cost p50':>15}{'p99':>9}"
    )
    for door, label in (("openai", "POST /v1/chat/completions"), ("mcp", "POST /mcp send_message")):
        print(
            f"{label:<28}{statistics.median(wall[door]):>15.2f}{_pct(wall[door], 0.99):>9.2f}"
            f"{statistics.median(server_ms[door]):>10.2f}{_pct(server_ms[door], 0.99):>9.2f}"
            f"{statistics.median(door_ms[door]):>15.2f}{_pct(door_ms[door], 0.99):>9.2f}"
        )
    d50 = statistics.median(door_ms["openai"]) - statistics.median(door_ms["mcp"])
    d99 = _pct(door_ms["openai"], 0.99) - _pct(door_ms["mcp"], 0.99)
    w50 = statistics.median(wall["openai"]) - statistics.median(wall["mcp"])
    print(
        f"door cost, openai - mcp: p50 {d50:+.2f} ms, p99 {d99:+.2f} ms (goal: within 1 ms); "
        f"round trip p50 {w50:+.2f} ms"
    )
    print(json.dumps({"door_p50_diff_ms": round(d50, 3), "door_p99_diff_ms": round(d99, 3)}))


def _server_timings(env: dict, ids: dict[str, list[int]]) -> dict[str, list[float]]:
    """``timing.total_ms`` of the measured turns, read from the stored assistant messages."""
    code = (
        "import json,sys; from conversations.models import Message; "
        f"ids = json.loads({json.dumps(json.dumps(ids))}); "
        "out = {d: [Message.objects.get(pk=i).timings.get('total_ms', 0.0) for i in v] "
        "for d, v in ids.items()}; print('OUT', json.dumps(out))"
    )
    raw = _manage(env, "shell", "-c", code)
    return json.loads(raw.split("OUT ", 1)[1])


if __name__ == "__main__":
    main()
