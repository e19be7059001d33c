"""A throw-away Matrix homeserver (Synapse) on 127.0.0.1 for tests and benchmarks.

Synapse lives in its own virtualenv (``var/synapse-venv``; its pins clash with the app's),
installed with pip on first use and reused afterwards. Each start generates a config in a
temporary folder: one client listener on 127.0.0.1, sqlite, a registration shared secret,
no federation, presence off, rate limits raised, cheap bcrypt.

    python scripts/synapse.py install          # create var/synapse-venv if missing
    python scripts/synapse.py up               # start one, print its URL, Ctrl-C to stop

From Python::

    with Synapse() as hs:
        token = hs.register("alice", "secret")["access_token"]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("PERSONAMCP_SYNAPSE_VENV") or ROOT / "var" / "synapse-venv")
SERVER_NAME = "localhost"
RC_KEYS = (
    "rc_message",
    "rc_registration",
    "rc_joins",
    "rc_invites",
    "rc_3pid_validation",
    "rc_admin_redaction",
    "rc_joins_per_room",
    "rc_presence",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_media_create",
    "rc_profile_updates",
)


def log(msg: str) -> None:
    print(f"[synapse] {msg}", file=sys.stderr, flush=True)


def python() -> Path:
    return VENV / "bin" / "python"


def installed() -> bool:
    if not python().exists():
        return False
    probe = subprocess.run(
        [str(python()), "-c", "import synapse.app.homeserver"], capture_output=True
    )
    return probe.returncode == 0


def install() -> None:
    """Create the Synapse virtualenv with pip if it is missing (about 25 s, once)."""
    if installed():
        return
    log(f"installing matrix-synapse into {VENV}")
    started = time.monotonic()
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python()), "-m", "pip", "install", "-q", "matrix-synapse"], check=True)
    log(f"installed in {time.monotonic() - started:.0f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _yaml_scalar(value) -> str:
    return json.dumps(value)  # JSON scalars and lists are valid YAML


class Synapse:
    """A running Synapse; ``url`` is its client API base."""

    def __init__(self, workdir: Path | None = None):
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="synapse-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_name = SERVER_NAME
        self.shared_secret = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def configure(self) -> Path:
        config = self.dir / "homeserver.yaml"
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                str(python()),
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                SERVER_NAME,
                "--config-path",
                str(config),
                "--data-directory",
                str(data),
                "--generate-config",
                "--report-stats=no",
            ],
            check=True,
            capture_output=True,
            cwd=self.dir,
        )
        keep = []
        skipping = False
        for line in config.read_text().splitlines():
            if line.startswith(("listeners:", "database:")):
                skipping = True
                continue
            if skipping and (line.startswith(" ") or line.startswith("-") or not line.strip()):
                continue
            skipping = False
            if line.startswith(("registration_shared_secret:", "report_stats:")):
                continue
            keep.append(line)
        limits = {"per_second": 1000, "burst_count": 1000}
        extra = [
            "listeners:",
            f"  - port: {self.port}",
            "    bind_addresses: ['127.0.0.1']",
            "    type: http",
            "    tls: false",
            "    x_forwarded: false",
            "    resources:",
            "      - names: [client]",
            "        compress: false",
            "database:",
            "  name: sqlite3",
            "  args:",
            f"    database: {_yaml_scalar(str(data / 'homeserver.db'))}",
            f"registration_shared_secret: {_yaml_scalar(self.shared_secret)}",
            "report_stats: false",
            "enable_registration: false",
            "federation_domain_whitelist: []",
            "trusted_key_servers: []",
            "suppress_key_server_warning: true",
            "presence:",
            "  enabled: false",
            "bcrypt_rounds: 4",
            "url_preview_enabled: false",
            "enable_metrics: false",
            "max_upload_size: 10M",
        ]
        for key in RC_KEYS:
            extra.append(f"{key}: {json.dumps(limits)}")
        extra.append(
            "rc_login: "
            + json.dumps({"address": limits, "account": limits, "failed_attempts": limits})
        )
        config.write_text("\n".join(keep + extra) + "\n")
        log_config = self.dir / f"{SERVER_NAME}.log.config"
        if log_config.exists():
            log_config.write_text(
                "version: 1\nformatters:\n  precise:\n    format: '%(asctime)s %(levelname)s "
                "%(name)s %(message)s'\nhandlers:\n  file:\n    class: logging.FileHandler\n"
                f"    filename: {_yaml_scalar(str(self.dir / 'homeserver.log'))}\n"
                "    formatter: precise\nroot:\n  level: WARNING\n  handlers: [file]\n"
                "disable_existing_loggers: false\n"
            )
        return config

    def start(self, timeout: float = 60.0) -> Synapse:
        install()
        config = self.configure()
        with open(self.dir / "stdout.log", "wb") as out:
            self.proc = subprocess.Popen(
                [str(python()), "-m", "synapse.app.homeserver", "--config-path", str(config)],
                cwd=self.dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"synapse exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:  # noqa: S310
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"synapse did not answer /health in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        parts = []
        for name in ("stdout.log", "homeserver.log"):
            path = self.dir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Synapse:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- admin API ----------------------------------------------------------------------

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from None

    def register(self, username: str, password: str, *, admin: bool = False) -> dict:
        """Register a user with the shared-secret admin API; returns user_id and access_token."""
        nonce = self.request("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce.encode(),
                    username.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        return self.request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": username,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )

    def user_id(self, username: str) -> str:
        return f"@{username}:{self.server_name}"


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "up"
    if command == "install":
        install()
        return 0
    if command == "up":
        with Synapse() as hs:
            print(hs.url, flush=True)
            log(f"running on {hs.url} (shared secret {hs.shared_secret}); Ctrl-C to stop")
            try:
                while hs.proc and hs.proc.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
