"""Fixtures for the bot tests: a real Synapse on loopback, Matrix users, bot processes, and
(in the scaled pass) a real Celery worker on Redis that owns the bot processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, SCALED, server_env

sys.path.insert(0, str(ROOT / "scripts"))
from synapse import Synapse

# Fast supervision for tests (in this process through settings, in children through env).
FAST = {
    "PERSONAMCP_BOT_HEARTBEAT": "0.5",
    "PERSONAMCP_BOT_HEARTBEAT_TIMEOUT": "5",
    "PERSONAMCP_BOT_STOP_TIMEOUT": "5",
    "PERSONAMCP_BOT_BACKOFF_BASE": "0",
    "PERSONAMCP_BOT_MAX_CRASHES": "3",
    "PERSONAMCP_BOT_CRASH_WINDOW": "600",
}


@pytest.fixture(scope="session")
def synapse():
    hs = Synapse().start()
    yield hs
    hs.stop()


class OwnSynapse(Synapse):
    """A homeserver of one test: it can be stopped and started again on the same port and
    data (a restart), and its message rate limit can be tight (``rc_message``)."""

    def __init__(self, rc_message: dict | None = None):
        super().__init__()
        self.rc_message = rc_message
        self.config_path: Path | None = None

    def configure(self) -> Path:
        if self.config_path is not None:
            return self.config_path  # a restart keeps the config, the keys and the database
        config = super().configure()
        if self.rc_message is not None:
            lines = [
                f"rc_message: {json.dumps(self.rc_message)}"
                if line.startswith("rc_message:")
                else line
                for line in config.read_text().splitlines()
            ]
            config.write_text("\n".join(lines) + "\n")
        self.config_path = config
        return config

    def down(self) -> None:
        """Stop the homeserver, keep its data."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def up(self) -> None:
        self.start()

    def unlimit(self, user_id: str) -> None:
        """No rate limit for this user (the human of a rate-limit test)."""
        admin = self.register(f"admin{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex, admin=True)
        self.request(
            "POST",
            f"/_synapse/admin/v1/users/{user_id}/override_ratelimit",
            {"messages_per_second": 0, "burst_count": 0},
            token=admin["access_token"],
        )


@pytest.fixture
def own_synapse():
    """own_synapse(rc_message=None) -> a homeserver of this test (stopped at its end)."""
    made: list[OwnSynapse] = []

    def make(**kwargs) -> OwnSynapse:
        hs = OwnSynapse(**kwargs).start()
        made.append(hs)
        return hs

    yield make
    for hs in made:
        hs.stop()


@pytest.fixture
def bot_llm():
    """A fake Ollama for the bot processes: ``(server, env)``; pass ``env`` to ``runbot``."""
    from tests.conversations.fakes import FakeLLMServer

    with FakeLLMServer("ollama", delay=0.0) as server:
        env = {"LLM_PROVIDER": "ollama", "OLLAMA_URL": server.url, "LLM_MODEL": "fake-model"}
        yield server, env


class MatrixUser:
    """A human on the homeserver, driven with plain client-server API calls."""

    def __init__(self, hs: Synapse, username: str, password: str):
        self.hs = hs
        self.password = password
        self.username = username
        info = hs.register(username, password)
        self.user_id = info["user_id"]
        self.token = info["access_token"]
        self.http = httpx.Client(
            base_url=hs.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=40
        )
        self._txn = 0

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, f"/_matrix/client/v3{path}", **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def create_room(self, invite: list[str], *, name: str | None = None) -> str:
        body: dict = {"preset": "private_chat", "invite": invite, "is_direct": len(invite) == 1}
        if name:
            body["name"] = name
        return self.call("POST", "/createRoom", json=body)["room_id"]

    def send(self, room_id: str, text: str, **extra) -> str:
        """Send a text message (``extra``: more content, e.g. ``m.relates_to``)."""
        self._txn += 1
        path = f"/rooms/{room_id}/send/m.room.message/t{self._txn}-{uuid.uuid4().hex[:6]}"
        body = {"msgtype": "m.text", "body": text, **extra}
        return self.call("PUT", path, json=body)["event_id"]

    def joined(self, room_id: str) -> set[str]:
        return set(self.call("GET", f"/rooms/{room_id}/joined_members")["joined"])

    def messages(self, room_id: str) -> list[dict]:
        """Text messages of the room, oldest first."""
        chunk = self.call("GET", f"/rooms/{room_id}/messages", params={"dir": "b", "limit": 100})[
            "chunk"
        ]
        return [e for e in reversed(chunk) if e.get("type") == "m.room.message"]

    def wait_joined(self, room_id: str, user_id: str, timeout: float = 30) -> None:
        wait_until(lambda: user_id in self.joined(room_id), timeout, f"{user_id} joined")

    def wait_reply(self, room_id: str, sender: str, after: str, timeout: float = 90) -> dict:
        """The first message from ``sender`` after event ``after``."""
        found: list[dict] = []

        def check() -> bool:
            events = self.messages(room_id)
            ids = [e["event_id"] for e in events]
            start = ids.index(after) + 1 if after in ids else 0
            found[:] = [e for e in events[start:] if e["sender"] == sender]
            return bool(found)

        wait_until(check, timeout, f"reply from {sender}")
        return found[0]

    def displayname(self, user_id: str) -> str | None:
        response = self.http.get(f"/_matrix/client/v3/profile/{user_id}/displayname")
        return response.json().get("displayname") if response.status_code == 200 else None


def mcp_call(client, key: str, method: str, params: dict) -> dict:
    """One JSON-RPC call over HTTP ``/mcp`` with an API key (a Django test client)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = client.post(
        "/mcp",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    return response.json()


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for: {what}")


@pytest.fixture
def matrix_user(synapse):
    """matrix_user(prefix="human", hs=None) -> a human on the session's (or ``hs``) server."""
    users: list[MatrixUser] = []

    def make(prefix: str = "human", hs: Synapse | None = None) -> MatrixUser:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        user = MatrixUser(hs or synapse, name, "pw-" + uuid.uuid4().hex)
        users.append(user)
        return user

    yield make
    for user in users:
        user.http.close()


@pytest.fixture
def fast_bots(settings):
    """Fast heartbeats/backoff here and in the bot processes; children use the test database."""
    settings.BOTS = {
        **settings.BOTS,
        "HEARTBEAT_INTERVAL": 0.5,
        "HEARTBEAT_TIMEOUT": 5.0,
        "STOP_TIMEOUT": 5.0,
        "BACKOFF_BASE": 0.0,
        "MAX_CRASHES": 3,
        "CHILD_ENV": server_env(FAST),
    }
    return settings.BOTS


@pytest.fixture
def make_bot(synapse, transactional_db):
    """make_bot(persona, password=None) -> BotAccount registered on the homeserver."""
    from bots import services

    made = []

    def make(persona, *, password: str | None = None, register: bool = True, hs=None, **fields):
        hs = hs or synapse
        username = f"{persona.slug}{uuid.uuid4().hex[:8]}"
        real = "bot-" + uuid.uuid4().hex
        if register:
            hs.register(username, real)
        bot = services.bot_create(
            persona=persona,
            homeserver=hs.url,
            user_id=hs.user_id(username),
            password=password or real,
            **fields,
        )
        made.append(bot)
        return bot

    yield make
    from personamcp import jobs

    jobs.wait_idle()
    for bot in made:  # no bot process outlives its test
        for pid in runner_pids(bot):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def runbot(fast_bots):
    """runbot(ref) -> a foreground ``manage.py runbot`` process on the test database."""
    procs: list[subprocess.Popen] = []

    def start(ref: str, env: dict | None = None, output: Path | None = None) -> subprocess.Popen:
        """``env``: more environment; ``output``: a file for stdout and stderr (then the log
        is written to the console too)."""
        args = [sys.executable, "manage.py", "runbot", ref]
        if output is None:
            args.append("--no-console")
        out = open(output, "ab") if output is not None else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=server_env({**FAST, **(env or {})}),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if output is not None:
            out.close()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def bot_run(bot):
    from bots.models import BotRun

    return BotRun.objects.get(bot=bot)


def wait_status(bot, status: str, timeout: float = 90):
    try:
        wait_until(lambda: bot_run(bot).status == status, timeout, f"bot status {status}")
    except AssertionError:
        from bots.schemas import bot_out

        bot.refresh_from_db()
        raise AssertionError(f"bot never reached {status}: {bot_out(bot)}") from None
    return bot_run(bot)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in {"Z", "X"}
    except OSError:
        return False


def zombies() -> list[int]:
    """Zombie processes whose parent is this test process or one of its children (the Celery
    worker that owns bot processes in the scaled pass)."""
    import psutil

    me = psutil.Process()
    parents = {me.pid} | {child.pid for child in me.children()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) in parents:
            found.append(int(entry.name))
    return found


def runner_pids(bot) -> list[int]:
    """Live ``runbot <bot id>`` processes of this bot on this machine."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"runbot" in args and str(bot.id).encode() in args and process_exists(int(entry.name)):
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="session")
def bot_queue():
    return f"bots-test-{os.getpid()}"


@pytest.fixture
def bot_worker(request, bot_queue, fast_bots, settings, tmp_path):
    """Scaled pass: a real Celery worker on Redis consuming a private bot queue (so that other
    test runs sharing the Redis never take these tasks). Embedded pass: nothing (in-process)."""
    if not SCALED:
        yield None
        return
    settings.BOTS = {**settings.BOTS, "QUEUE": bot_queue}
    log_path = tmp_path / "celery.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "celery"),
                "-A",
                "personamcp",
                "worker",
                "-P",
                "solo",
                "-c",
                "1",
                "--loglevel=warning",
                "-Q",
                bot_queue,
                "-n",
                f"{bot_queue}@%h",
            ],
            cwd=ROOT,
            env=server_env({**FAST, "PERSONAMCP_BOT_QUEUE": bot_queue}),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    from personamcp.celery import app

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        replies = app.control.ping(destination=[f"{bot_queue}@{os.uname().nodename}"], timeout=0.5)
        if replies:
            break
        assert proc.poll() is None, log_path.read_text()
    else:
        raise AssertionError(f"celery worker did not start:\n{log_path.read_text()}")
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def supervise(bot_queue: str) -> dict:
    """One supervision pass: through the Celery worker when scaled, in-process otherwise."""
    from bots import tasks

    if SCALED:
        return tasks.bot_supervise.apply_async(queue=bot_queue, ignore_result=False).get(timeout=60)
    from bots import supervision

    return supervision.bot_supervise()


class E2EEUser:
    """A human with an encrypting Matrix client (matrix-nio with e2e), on its own event loop
    thread so that tests stay synchronous."""

    def __init__(self, hs: Synapse, username: str, password: str, store: Path):
        import asyncio
        import threading

        from nio import AsyncClient, AsyncClientConfig

        self.hs = hs
        self.user_id = hs.register(username, password)["user_id"]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        store.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
        self.client = AsyncClient(hs.url, self.user_id, store_path=str(store), config=config)
        self.run(self.client.login(password, device_name="human"))
        self.run(self.client.keys_upload())
        self.received: list = []
        self.undecryptable: list = []
        self.held_keys: dict[str, str] = {}

    def run(self, coro, timeout: float = 60):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _sync(self) -> None:
        from nio import MegolmEvent, RoomMessageText

        response = await self.client.sync(timeout=500)
        for room_id, info in getattr(response, "rooms", None).join.items():
            for event in info.timeline.events:
                if isinstance(event, RoomMessageText):
                    self.received.append((room_id, event))
                elif isinstance(event, MegolmEvent):
                    self.undecryptable.append((room_id, event))
        client = self.client
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    def sync(self) -> None:
        self.run(self._sync())

    def create_encrypted_room(self, invite: list[str], *, name: str | None = None) -> str:
        from nio import RoomCreateResponse, RoomPreset

        response = self.run(
            self.client.room_create(
                name=name,
                invite=invite,
                is_direct=len(invite) == 1,
                preset=RoomPreset.private_chat,
                initial_state=[
                    {
                        "type": "m.room.encryption",
                        "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                    }
                ],
            )
        )
        assert isinstance(response, RoomCreateResponse), response
        return response.room_id

    def wait_joined(self, room_id: str, user_id: str, timeout: float = 90) -> None:
        def joined() -> bool:
            self.sync()
            room = self.client.rooms.get(room_id)
            return room is not None and user_id in room.users

        wait_until(joined, timeout, f"{user_id} joined {room_id}")

    def send(self, room_id: str, text: str) -> str:
        from nio import RoomSendResponse

        self.sync()
        response = self.run(
            self.client.room_send(
                room_id,
                "m.room.message",
                {"msgtype": "m.text", "body": text},
                ignore_unverified_devices=True,
            )
        )
        assert isinstance(response, RoomSendResponse), response
        return response.event_id

    def send_key_later(self, room_id: str, text: str) -> str:
        """Send ``text`` encrypted with a fresh Megolm session whose key nobody has yet (as
        when the key's to-device message is delayed); ``share_key_now`` sends the key."""

        async def go() -> str:
            olm = self.client.olm
            olm.create_outbound_group_session(room_id)
            session = olm.outbound_group_sessions[room_id]
            session.shared = True  # keep the key back
            self.held_keys[room_id] = session.session_key  # at index 0, before the message
            response = await self.client.room_send(
                room_id, "m.room.message", {"msgtype": "m.text", "body": text}
            )
            return response.event_id

        self.sync()
        return self.run(go())

    def share_key_now(self, room_id: str) -> None:
        session = self.client.olm.outbound_group_sessions[room_id]
        first_index_key = self.held_keys.pop(room_id)

        class HeldBack(type(session)):
            """The same session, sharing the key it had before the held-back message."""

            @property
            def session_key(self) -> str:
                return first_index_key

        async def go() -> None:
            session.__class__ = HeldBack
            session.shared = False
            await self.client.share_group_session(room_id, ignore_unverified_devices=True)

        self.run(go())

    def wait_reply(self, room_id: str, sender: str, after: str, timeout: float = 90):
        """The first decrypted message from ``sender`` in the room after event ``after``."""
        found: list = []

        def check() -> bool:
            self.sync()
            events = [e for r, e in self.received if r == room_id]
            ids = [e.event_id for e in events]
            start = ids.index(after) + 1 if after in ids else 0
            found[:] = [e for e in events[start:] if e.sender == sender]
            return bool(found)

        wait_until(check, timeout, f"decrypted reply from {sender}", interval=0.2)
        return found[0]

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def e2ee_user(synapse, tmp_path):
    users: list[E2EEUser] = []

    def make(prefix: str = "crypt") -> E2EEUser:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        user = E2EEUser(synapse, name, "pw-" + uuid.uuid4().hex, tmp_path / name)
        users.append(user)
        return user

    yield make
    for user in users:
        user.close()
