"""A live Persona-MCP server for the client libraries' tests and for bench/clients.py.

``python clients/testserver.py --state var/clients/state.json`` prepares a fresh SQLite database
under ``var/clients/``, seeds the demo personas, creates API keys, and starts:

- daphne serving the real app in the embedded mode (no local-development mode: keys needed),
  with the LLM at the wire: a fake Ollama on loopback that streams its reply slowly enough
  that a client can cancel it mid-stream;
- a control endpoint on loopback: ``POST /restart`` stops daphne and starts it again on the same
  port (the reconnect tests), ``GET /state`` returns the state below;
- a misbehaving WebSocket server (see ``BadServer``) for the "bad input from the server" tests.

When everything listens, the state (URLs, keys) is written as JSON to ``--state`` and the process
runs until it gets SIGTERM/SIGINT. ``--env`` also prints the state as shell ``export`` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The fake LLM's reply: 16 pieces at STREAM_DELAY seconds each, so a stream lasts ~1.3 s.
REPLY = "Well met, traveller. The road north is long and the inn is warm tonight, so sit and rest."
STREAM_DELAY = 0.08


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}:\n{log.read_text(errors='replace')}")


def prepare_database(run_dir: Path) -> dict:
    """Migrate a fresh SQLite database, seed the demo personas, create the keys."""
    db = run_dir / "db.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "personamcp.settings")
    os.environ["PERSONAMCP_SCHEDULER"] = "0"
    os.environ["PERSONAMCP_WARMUP"] = "0"
    import io

    import django

    django.setup()
    from django.core.management import call_command

    from personamcp.services import api_key_create

    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_demo", stdout=io.StringIO())
    _, write_key = api_key_create(name="clients-write", scope="write")
    _, read_key = api_key_create(name="clients-read", scope="read")
    _, admin_key = api_key_create(name="clients-admin", scope="admin")
    return {"database": str(db), "key": write_key, "read_key": read_key, "admin_key": admin_key}


class Daphne:
    """The real server as a child process; restartable on the same port."""

    def __init__(self, port: int, env: dict, log: Path):
        self.port, self.env, self.log = port, env, log
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
               "personamcp.asgi:application"]  # fmt: skip
        with open(self.log, "a") as log_file:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT
            )
        wait_port(self.port, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        with self.lock:
            self.stop()
            # the port is free again once the child is gone; a client reconnecting meanwhile
            # gets "connection refused" and backs off
            self.start()


class BadServer:
    """A WebSocket server on loopback that answers JSON-RPC badly on purpose.

    For every request it first sends a frame that is not JSON, a JSON value that is not an
    object, a binary frame, a response for an id nobody asked for, a response with neither
    ``result`` nor ``error``, and a notification of an unknown method; only then the real answer.
    Methods: ``fail`` (error -32099 with data), ``silent`` (never answered: the client's timeout
    must fire); any other method is echoed: ``{"method", "params"}`` as the client sent them
    (the tests check the v1.1 wrappers' wire shape this way).
    """

    def __init__(self, port: int):
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve

        async with serve(self._handler, "127.0.0.1", self.port, subprotocols=None):
            self.ready.set()
            await asyncio.Future()

    async def _handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._answer(ws)
        except ConnectionClosed:
            pass  # clients that drop the socket are part of the tests

    async def _answer(self, ws) -> None:
        async for frame in ws:
            try:
                message = json.loads(frame)
            except (TypeError, ValueError):
                continue
            if not isinstance(message, dict) or "id" not in message:
                continue
            await ws.send("{this is not json")
            await ws.send("42")
            await ws.send(b"\x00\x01binary")
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": "nobody-asked", "result": 1}))
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": message["id"]}))
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "no.such.note", "params": 3}))
            method, req_id = message.get("method"), message["id"]
            if method == "silent":
                continue
            if method == "fail":
                answer = {
                    "jsonrpc": "2.0",
                    "id": req_id,
                    "error": {"code": -32099, "message": "failed on purpose", "data": {"n": 7}},
                }
            else:
                answer = {
                    "jsonrpc": "2.0",
                    "id": req_id,
                    "result": {"method": method, "params": message.get("params")},
                }
            await ws.send(json.dumps(answer))


def control_server(port: int, daphne: Daphne, state: dict) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _reply(self, body: dict, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply(state) if self.path == "/state" else self._reply({}, 404)

        def do_POST(self) -> None:
            if self.path != "/restart":
                self._reply({}, 404)
                return
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            daphne.restart()
            self._reply({"restarted": True})

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def page_server(directory: Path) -> ThreadingHTTPServer:
    """Static files of ``directory`` on a loopback port (the browser test's page and module)."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(directory)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    import logging

    logging.getLogger("websockets").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", default=str(ROOT / "var" / "clients" / "state.json"))
    parser.add_argument("--env", action="store_true", help="print shell export lines too")
    args = parser.parse_args()

    run_dir = ROOT / "var" / "clients" / f"run-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    state: dict = prepare_database(run_dir)

    from tests.conversations.fakes import FakeLLMServer

    llm = FakeLLMServer("ollama", reply=REPLY, mode="slow", delay=STREAM_DELAY).start()
    port = free_port()
    # The browser test's page (clients/js, read-only) comes from an origin the server allows.
    page = page_server(ROOT / "clients" / "js")
    page_origin = f"http://127.0.0.1:{page.server_address[1]}"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        DATABASE_URL=os.environ["DATABASE_URL"],
        PERSONAMCP_DEV_MODE="0",
        PERSONAMCP_SCHEDULER="0",
        PERSONAMCP_VAR_DIR=str(ROOT / "var"),
        LLM_PROVIDER="ollama",
        OLLAMA_URL=llm.url,
        LLM_MODEL="fake",
        PERSONAMCP_WARMUP="1",
        PERSONAMCP_ALLOWED_ORIGINS=page_origin,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    daphne = Daphne(port, env, run_dir / "server.log")
    daphne.start()
    bad = BadServer(free_port())
    bad.start()
    control_port = free_port()
    state.update(
        url=f"ws://127.0.0.1:{port}/mcp",
        http=f"http://127.0.0.1:{port}",
        control=f"http://127.0.0.1:{control_port}",
        bad_url=f"ws://127.0.0.1:{bad.port}/",
        reply=REPLY,
        page=page_origin,
        log=str(daphne.log),
    )
    control_server(control_port, daphne, state)

    state_path = Path(args.state)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(state_path)
    if args.env:
        print(exports(state), flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    daphne.stop()
    llm.stop()


def exports(state: dict) -> str:
    """The state as the environment variables the clients' tests read."""
    names = {
        "url": "PERSONAMCP_URL",
        "key": "PERSONAMCP_KEY",
        "read_key": "PERSONAMCP_READ_KEY",
        "admin_key": "PERSONAMCP_ADMIN_KEY",
        "control": "PERSONAMCP_CONTROL",
        "bad_url": "PERSONAMCP_BAD_URL",
        "reply": "PERSONAMCP_REPLY",
        "page": "PERSONAMCP_PAGE",
    }
    return "\n".join(f"export {env}='{state[k]}'" for k, env in names.items())


if __name__ == "__main__":
    main()
