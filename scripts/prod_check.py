"""``make prod-check``: the docker-compose topology without containers, and a smoke test.

Starts, on free loopback ports and in a temporary folder under ``var/``:

- PostgreSQL with pgvector (the cluster of ``scripts/services.py``, in a database of its own),
- a Redis server of its own,
- two daphne processes behind nginx (the distribution's package; WebSocket upgrade on ``/mcp``,
  static files served by nginx after ``collectstatic``, event streams unbuffered),
- a Celery worker and Celery beat,
- a Matrix homeserver (``scripts/synapse.py``) for a bot,

then checks through the proxy: health, REST, the WebSocket JSON-RPC door, an event crossing
from one server process to the other, a turn, the admin with nginx's static files, and a bot
started by the worker that logs in to the homeserver. Everything it started is stopped and the
database dropped, also on failure or Ctrl-C. Exit status 0 when every check passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import services  # noqa: E402  (scripts/services.py)
import synapse  # noqa: E402  (scripts/synapse.py)

PY = sys.executable
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """\
{user}
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    include {mime};
    log_format upstream '$request_method $uri $status $upstream_addr';
    access_log {tmp}/nginx-access.log upstream;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    upstream persona_backends {{
{servers}
    }}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 20m;
        location /static/ {{ alias {static}/; }}
        location /mcp {{
            proxy_pass http://persona_backends;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 3600s;
            proxy_buffering off;
        }}
        location / {{
            proxy_pass http://persona_backends;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


def say(message: str) -> None:
    print(f"[prod-check] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{name} exited early (status {proc.returncode})")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"{name} did not listen on {port} within {timeout:.0f}s")


def http(method: str, url: str, body=None, headers=None, timeout: float = 120):
    """(status, headers, parsed JSON or text) of one request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
            raw, status, hdrs = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        raw, status, hdrs = exc.read(), exc.code, exc.headers
    text = raw.decode(errors="replace")
    try:
        return status, hdrs, json.loads(text)
    except ValueError:
        return status, hdrs, text


def check(condition: bool, what: str, detail="") -> None:
    if not condition:
        raise SystemExit(f"FAILED: {what} {detail}")
    say(f"ok   {what}")


class Topology:
    def __init__(self) -> None:
        (ROOT / "var").mkdir(exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="prodcheck-", dir=ROOT / "var"))
        self.tmp.chmod(0o755)
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.database: str | None = None
        self.admin_url: str | None = None
        self.synapse: synapse.Synapse | None = None
        self.env: dict[str, str] = {}

    # --- processes ---------------------------------------------------------------------------

    def spawn(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 (the child keeps it)
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [PY, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if result.returncode:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def up(self) -> None:
        # PostgreSQL + pgvector: the services cluster, a database of our own
        import psycopg

        cluster = services.postgres_up()
        self.database = f"prodcheck_{os.getpid()}"
        self.admin_url = cluster
        with psycopg.connect(cluster, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        database_url = cluster.rsplit("/", 1)[0] + "/" + self.database
        say(f"PostgreSQL database {self.database}")

        redis_port = free_port()
        redis = self.spawn(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            env=os.environ.copy(),
        )
        wait_port(redis_port, redis, "redis")
        say(f"Redis on {redis_port}")

        self.proxy_port = free_port()
        self.base = f"http://127.0.0.1:{self.proxy_port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": self.base,
            "PERSONAMCP_VAR_DIR": str(self.tmp / "var"),
            "PERSONAMCP_SERVE_STATIC": "0",
            "PERSONAMCP_DEV_MODE": "0",
            "PERSONAMCP_BOT_HEARTBEAT": "1",
            "PERSONAMCP_BOT_SUPERVISE_INTERVAL": "2",
            "EMBEDDING_CACHE_DIR": str(ROOT / "var" / "models"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        for key in ("DEBUG", "LLM_PROVIDER", "OLLAMA_URL", "OPENAI_BASE_URL"):
            self.env.pop(key, None)
        self.manage("migrate", "--noinput", "-v0")
        self.manage("seed_demo")
        self.manage("collectstatic", "--noinput", "-v0")
        self.key = self.manage(
            "create_api_key", "prod-check", "--scope", "admin", "--quiet"
        ).strip()
        say("migrated, demo personas, static files collected, API key made")

        backends = []
        for i in range(2):
            port = free_port()
            proc = self.spawn(
                f"daphne-{i + 1}",
                [
                    PY,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "personamcp.asgi:application",
                ],
            )
            backends.append((port, proc))
        self.backends = [port for port, _ in backends]
        self.spawn(
            "worker",
            [PY, "-m", "celery", "-A", "personamcp", "worker", "--loglevel=info", "-c", "2",
             "-n", f"prodcheck-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
        )  # fmt: skip
        self.spawn(
            "beat",
            [PY, "-m", "celery", "-A", "personamcp", "beat", "--loglevel=info",
             "--schedule", str(self.tmp / "celerybeat-schedule")],
        )  # fmt: skip
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                user="user root;" if os.geteuid() == 0 else "",
                tmp=self.tmp,
                mime="/etc/nginx/mime.types",
                servers="\n".join(f"        server 127.0.0.1:{p};" for p in self.backends),
                port=self.proxy_port,
                static=self.tmp / "var" / "static",
            )
        )
        nginx = self.spawn("nginx", [NGINX, "-p", str(self.tmp), "-c", str(conf), "-g",
                                     "daemon off;"])  # fmt: skip
        for port, proc in backends:
            wait_port(port, proc, f"daphne on {port}")
        wait_port(self.proxy_port, nginx, "nginx")
        say(f"nginx on {self.proxy_port} -> daphne on {self.backends}, Celery worker and beat")

    def down(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.synapse is not None:
            self.synapse.stop()
        if self.database:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if os.environ.get("PRODCHECK_KEEP"):
            say(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def logs(self) -> str:
        out = []
        for path in sorted(self.tmp.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-25:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)


# --- the smoke test ---------------------------------------------------------------------------


async def websocket_checks(t: Topology) -> None:
    import websockets

    url = f"ws://127.0.0.1:{t.proxy_port}/mcp"
    headers = {"Authorization": f"Bearer {t.key}"}
    async with (
        websockets.connect(url, additional_headers=headers) as a,
        websockets.connect(url, additional_headers=headers) as b,
    ):

        async def call(ws, req_id, method, params=None):
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method,
                                      "params": params or {}}))  # fmt: skip
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if message.get("id") == req_id:
                    return message

        status = await call(a, 1, "system.status")
        check(status.get("result", {}).get("database") is not None, "WebSocket: system.status")
        listed = await call(a, 2, "persona.list")
        slugs = {p["slug"] for p in listed["result"]["personas"]}
        check({"alice", "rook"} <= slugs, "WebSocket: persona.list", slugs)
        subscribed = await call(a, 3, "events.subscribe", {"topics": ["persona.*"]})
        check("result" in subscribed, "WebSocket: events.subscribe")
        # a change made through the other socket (and, by nginx's round robin, most likely the
        # other process) reaches this one through Redis
        await call(b, 4, "persona.update", {"persona_id": "rook", "description": "checked"})
        deadline = time.monotonic() + 10
        while True:
            message = json.loads(
                await asyncio.wait_for(a.recv(), max(0.1, deadline - time.monotonic()))
            )
            if message.get("method") == "event" and message["params"]["data"].get("slug") == "rook":
                break
        check(True, "WebSocket: event from the other connection, through the channel layer")
        reply = await call(
            b, 5, "conversation.send_message",
            {"persona_id": "alice", "content": "Good evening!", "sender": "prod-check"},
        )  # fmt: skip
        check(bool(reply.get("result", {}).get("response")), "WebSocket: a turn",
              reply.get("error", ""))  # fmt: skip


def bot_checks(t: Topology) -> None:
    auth = {"Authorization": f"Bearer {t.key}"}
    if not synapse.installed():
        say("installing Synapse for the bot check (once)")
        synapse.install()
    t.synapse = synapse.Synapse().start()
    t.synapse.register("alicebot", "prod-check-pw")
    status, _, bot = http(
        "POST",
        f"{t.base}/api/bots/",
        {"persona": "alice", "homeserver": t.synapse.url,
         "user_id": t.synapse.user_id("alicebot"), "password": "prod-check-pw"},
        auth,
    )  # fmt: skip
    check(status == 201, "REST: bot created", bot)
    status, _, started = http("POST", f"{t.base}/api/bots/{bot['id']}/start/", None, auth)
    check(status == 200 and started["status"] == "starting", "REST: bot start requested")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        _, _, current = http("GET", f"{t.base}/api/bots/{bot['id']}/", None, auth)
        if current["status"] in {"running", "crashed"}:
            break
        time.sleep(0.5)
    check(current["status"] == "running", "bot running (started by the Celery worker)",
          current.get("last_error", ""))  # fmt: skip
    status, _, _ = http("POST", f"{t.base}/api/bots/{bot['id']}/stop/", None, auth)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, _, current = http("GET", f"{t.base}/api/bots/{bot['id']}/", None, auth)
        if current["status"] == "stopped":
            break
        time.sleep(0.5)
    check(current["status"] == "stopped", "bot stopped")


def smoke(t: Topology) -> None:
    auth = {"Authorization": f"Bearer {t.key}"}
    status, _, _ = http("GET", f"{t.base}/healthz")
    check(status == 200, "GET /healthz through nginx")
    deadline = time.monotonic() + 30
    while True:  # readyz waits for the worker and the model
        status, _, body = http("GET", f"{t.base}/readyz")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    check(status == 200, "GET /readyz", body)
    status, _, body = http("GET", f"{t.base}/api/personas/", headers=auth)
    check(status == 200 and len(body["personas"]) >= 4, "REST: GET /api/personas/")
    status, _, body = http("GET", f"{t.base}/api/personas/")
    check(status in (401, 403), "REST: no key, no access", status)
    status, _, reply = http(
        "POST",
        f"{t.base}/api/conversations/messages/",
        {"persona_id": "rook", "content": "Hello, old bird.", "sender": "prod-check"},
        auth,
    )
    check(status == 200 and reply["response"], "REST: a turn", reply)
    asyncio.run(websocket_checks(t))
    status, _, page = http("GET", f"{t.base}/admin/login/")
    check(status == 200 and "Persona-MCP" in page, "admin login page")
    status, _, css = http("GET", f"{t.base}/static/dashboard/dashboard.css")
    check(status == 200 and "Persona-MCP" in css, "static files served by nginx")
    bot_checks(t)
    # nginx spread the requests over both server processes
    used = {
        line.rsplit(" ", 1)[-1] for line in (t.tmp / "nginx-access.log").read_text().splitlines()
    }
    check(all(f"127.0.0.1:{p}" in used for p in t.backends), "both daphne processes served")


def main() -> int:
    started = time.monotonic()
    topology = Topology()

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        topology.up()
        smoke(topology)
    except (SystemExit, Exception) as exc:
        print(topology.logs(), file=sys.stderr)
        print(f"[prod-check] {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        topology.down()
    say(f"all checks passed in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
