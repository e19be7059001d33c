"""Shared fixtures: API keys, REST and JSON-RPC clients, demo personas, a real server process."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("PERSONAMCP_SCHEDULER", "0")
# No model loading on a background thread in the test process: a short run could exit while the
# thread is inside onnxruntime, which aborts the interpreter. Turns load the model when needed.
os.environ.setdefault("PERSONAMCP_WARMUP", "0")

ROOT = Path(__file__).resolve().parent.parent
SCALED = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``scaled`` run only in the PostgreSQL+Redis pass, ``embedded`` only in the
    SQLite pass; ``make test`` runs both passes, so every test runs."""
    keep, drop = [], []
    for item in items:
        wrong_mode = ("scaled" in item.keywords and not SCALED) or (
            "embedded" in item.keywords and SCALED
        )
        (drop if wrong_mode else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A test's in-process background work (after-turn jobs and what they queue in turn) ends
    with the test, before its fixtures (database, fake LLM) are torn down: it never reaches the
    next test's fake LLM or database."""
    yield
    from personamcp import jobs

    jobs.wait_idle(60)


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    from memory import access
    from personamcp.auth import local_counts

    cache.clear()
    local_counts.clear()  # the embedded mode's rate-limit counters
    yield
    access.discard()  # a test's pending access updates never reach the next test's database


@pytest.fixture
def dev_mode(settings):
    settings.DEV_MODE = True
    return settings


@pytest.fixture
def make_key(db):
    """make_key(scope="write", personas=[...]) -> raw API key."""
    from personamcp.services import api_key_create

    def make(scope: str = "write", personas=None, name: str = "test") -> str:
        _, raw = api_key_create(name=name, scope=scope, personas=personas or [])
        return raw

    return make


@pytest.fixture
def demo(db):
    """The four demo personas, by slug (without the tavern scene: tests/rooms/test_demo.py)."""
    from django.core.management import call_command

    from personas.models import Persona

    call_command("seed_demo", no_scene=True, stdout=io.StringIO())
    return {p.slug: p for p in Persona.objects.all()}


@pytest.fixture
def api(db):
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def api_as(make_key):
    """api_as(scope) -> an APIClient sending a new key of that scope."""
    from rest_framework.test import APIClient

    def make(scope: str = "write", personas=None) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(scope, personas)}")
        return client

    return make


class RpcClient:
    """A JSON-RPC client over channels' WebsocketCommunicator on the real ASGI app."""

    def __init__(self, communicator):
        self.ws = communicator
        self._next = 0
        self.notifications: list[dict] = []

    async def send(self, payload) -> None:
        await self.ws.send_to(
            text_data=payload if isinstance(payload, str) else json.dumps(payload)
        )

    async def receive(self, timeout: float = 5):
        return json.loads(await self.ws.receive_from(timeout=timeout))

    async def response(self, req_id, timeout: float = 10) -> dict:
        """The response with this id; notifications received meanwhile are kept."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.receive(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(message, dict) and "method" in message and "id" not in message:
                self.notifications.append(message)
                continue
            if isinstance(message, list) or message.get("id") == req_id:
                return message
            raise AssertionError(f"unexpected message {message}")

    async def call(self, method: str, params: dict | None = None, timeout: float = 10) -> dict:
        """Send a request and return the whole response object."""
        self._next += 1
        req = {"jsonrpc": "2.0", "id": self._next, "method": method}
        if params is not None:
            req["params"] = params
        await self.send(req)
        return await self.response(self._next, timeout=timeout)

    async def result(self, method: str, params: dict | None = None, timeout: float = 10):
        """Send a request and return its result (fails the test on an error)."""
        response = await self.call(method, params, timeout=timeout)
        assert "error" not in response, response
        return response["result"]

    async def notification(self, method: str, timeout: float = 5) -> dict:
        for i, note in enumerate(self.notifications):
            if note["method"] == method:
                return self.notifications.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            message = await self.receive(timeout=max(0.01, deadline - time.monotonic()))
            if message.get("method") == method and "id" not in message:
                return message
            self.notifications.append(message)

    async def close(self) -> None:
        await self.ws.disconnect()


@pytest.fixture
async def rpc_connect():
    """``await rpc_connect(token=..., headers=..., subprotocols=...)`` -> a connected RpcClient."""
    from channels.testing import WebsocketCommunicator

    from personamcp.asgi import application

    clients: list[RpcClient] = []

    async def connect(token: str | None = None, headers=None, subprotocols=None, path="/mcp"):
        hdrs = list(headers or [])
        if token:
            hdrs.append((b"authorization", f"Bearer {token}".encode()))
        communicator = WebsocketCommunicator(
            application, path, headers=hdrs, subprotocols=subprotocols
        )
        connected, _ = await communicator.connect()
        assert connected
        client = RpcClient(communicator)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(extra: dict | None = None) -> dict:
    """Environment for a server process that shares this test run's database."""
    from django.db import connection

    env = {k: v for k, v in os.environ.items()}
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
    env["PERSONAMCP_SCHEDULER"] = "0"
    env.update(extra or {})
    return env


class ServerProcess:
    def __init__(self, port: int, proc: subprocess.Popen, log_path: Path):
        self.port, self.proc, self.log_path = port, proc, log_path
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/mcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    tmp_path: Path, env_extra: dict | None = None, server: str = "daphne"
) -> ServerProcess:
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    if server == "daphne":
        cmd = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "personamcp.asgi:application",
        ]
    else:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "personamcp.asgi:application",
        ]
    with open(log_path, "w") as log_file:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=server_env(env_extra), stdout=log_file, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return ServerProcess(port, proc, log_path)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start:\n{log_path.read_text()}")


@pytest.fixture
def live_server_proc(transactional_db, tmp_path):
    """``live_server_proc(env={...})`` -> a running daphne serving this test's database."""
    servers: list[ServerProcess] = []

    def start(env: dict | None = None, server: str = "daphne") -> ServerProcess:
        srv = start_server(tmp_path, env, server)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture
def wait_jobs():
    """Wait for in-process background jobs (embedded mode) to finish."""
    from personamcp import jobs

    return jobs.wait_idle


def eventually(check, timeout: float = 60.0, interval: float = 0.1):
    """Wait for background work (in-process jobs or the Celery worker) until ``check()`` is
    truthy; returns its value."""
    from personamcp import jobs

    jobs.wait_idle(timeout)
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Scaled mode: a real Celery worker on this test's database, ready when yielded (embedded
    mode: None, jobs run in-process)."""
    if not SCALED:
        yield None
        return
    from personamcp.celery import app
    from personamcp.tasks import echo

    app.control.purge()  # tasks left by earlier tests point at rows that no longer exist
    with open(tmp_path / "celery.log", "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "personamcp", "worker", "-P", "solo", "-c", "1",
             "--loglevel=warning", "--without-gossip", "--without-mingle", "-Q", "celery",
             "-n", f"test-{os.getpid()}@%h"],
            cwd=ROOT, env=server_env(), stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        echo.delay("ready").get(timeout=60)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def persona_admin_form(**overrides) -> dict:
    """POST data of the persona add/change form in the admin (no state inline rows)."""
    data = {
        "name": "Admin Made",
        "slug": "admin-made",
        "description": "made in the admin",
        "tag_names": "alpha, beta",
        **{t: "0.5" for t in ("conscientiousness", "extraversion", "agreeableness", "neuroticism")},
        "openness": "0.7",
        "speaking_style": "",
        "greeting": "",
        "system_prompt": "",
        "background": "",
        "goals": "[]",
        "interests": "[]",
        "extra": "{}",
        "state-TOTAL_FORMS": "0",
        "state-INITIAL_FORMS": "0",
        "state-MIN_NUM_FORMS": "0",
        "state-MAX_NUM_FORMS": "1",
    }
    data.update(overrides)
    return data


@pytest.fixture
def rpc_http(make_key):
    """``rpc_http(method, params)`` -> the JSON-RPC response over the real HTTP door."""
    from django.test import Client

    key = make_key("write")
    client = Client()
    counter = {"n": 0}

    def call(method: str, params: dict | None = None, *, token: str | None = None) -> dict:
        counter["n"] += 1
        body = {"jsonrpc": "2.0", "id": counter["n"], "method": method, "params": params or {}}
        response = client.post(
            "/mcp",
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token or key}"},
        )
        assert response.status_code == 200, response.content
        data = response.json()
        if "error" in data and data["error"]["code"] == -32603:
            raise AssertionError(data)
        return data

    return call


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Before the PostgreSQL test database is dropped, end the sessions that other threads keep
    open (persistent connections, pools): PostgreSQL refuses to drop a database in use."""
    yield
    from django.db import connection, connections

    with django_db_blocker.unblock():
        for conn in connections.all():
            if getattr(conn, "pool", None) is not None:
                conn.close_pool()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            connection.close()
