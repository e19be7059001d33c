"""The operating-system side of bot processes: spawn, signal, wait, adopt. No database here.

A bot process is ``python manage.py runbot <bot id> --no-console`` in its own session, so that
it survives the worker that spawned it and can be found again (adopted) by the next supervisor.
Every child this process spawns has a waiter thread that reaps it the moment it exits (no
zombie, whoever asked it to stop, and however it ended) and reports its exit code.

Process state comes from ``psutil``: a zombie counts as gone, a recycled pid is not taken for a
bot because its command line must name the bot.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from django.conf import settings

log = logging.getLogger(__name__)

# Children of this process, and the exit codes of those already reaped (for a stop to report).
_children: dict[int, subprocess.Popen] = {}
_exit_codes: dict[int, int] = {}
_lock = threading.Lock()


def runner_command(bot_id: str) -> list[str]:
    return [
        sys.executable,
        str(Path(settings.BASE_DIR) / "manage.py"),
        "runbot",
        bot_id,
        "--no-console",
    ]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(settings.BOTS.get("CHILD_ENV") or {})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def spawn(bot_id: str, console: Path, *, on_exit: Callable[[int, int], None]) -> int:
    """Start a runner for ``bot_id`` in its own session; ``on_exit(pid, code)`` runs (in a
    waiter thread) as soon as the process has exited and been reaped. Returns the pid."""
    if console.exists() and console.stat().st_size > 1_000_000:
        console.unlink()
    with open(console, "ab") as out:
        proc = subprocess.Popen(
            runner_command(bot_id),
            cwd=str(settings.BASE_DIR),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_child_env(),
            close_fds=True,
        )
    with _lock:
        _children[proc.pid] = proc

    def reap() -> None:
        code = proc.wait()
        with _lock:
            _children.pop(proc.pid, None)
            _exit_codes[proc.pid] = code
        try:
            on_exit(proc.pid, code)
        except Exception:  # the supervisor will reconcile it on its next pass
            log.exception("bot %s: recording the exit of pid %s failed", bot_id, proc.pid)

    threading.Thread(target=reap, name=f"reap-{proc.pid}", daemon=True).start()
    log.info("bot %s: spawned runner pid %s", bot_id, proc.pid)
    return proc.pid


def exit_code(pid: int | None) -> int | None:
    """The exit code of a reaped child of this process (None when unknown or still running)."""
    if not pid:
        return None
    with _lock:
        return _exit_codes.get(pid)


def alive(pid: int | None) -> bool:
    """Is ``pid`` a live process (a zombie is not)?"""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def _cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return []


def runner_of(pid: int) -> str | None:
    """The bot ref a live ``runbot`` process was started for, None when it is not one."""
    args = _cmdline(pid)
    if "runbot" not in args:
        return None
    index = args.index("runbot")
    return args[index + 1] if index + 1 < len(args) else None


def is_runner(pid: int | None, refs: set[str]) -> bool:
    """Is ``pid`` a live runner of the bot known by one of ``refs`` (id, persona slug)?
    Guards against a recycled pid."""
    return bool(pid) and alive(pid) and runner_of(pid) in refs


def scan_runners() -> dict[str, list[int]]:
    """Live local runbot processes by the ref they were started with: ``{ref: [pids]}``."""
    found: dict[str, list[int]] = {}
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        info = proc.info
        args = info.get("cmdline") or []
        if info["pid"] == me or "runbot" not in args or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        index = args.index("runbot")
        if index + 1 < len(args):
            found.setdefault(args[index + 1], []).append(info["pid"])
    return found


def send(pid: int, sig: int) -> None:
    """Signal the runner's whole session (it is a session leader), or the pid alone."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited (and, for a child, has been reaped). True when gone."""
    with _lock:
        child = _children.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, *, timeout: float) -> tuple[bool, int | None]:
    """SIGTERM the runner, SIGKILL it after ``timeout`` seconds. Returns ``(gone, exit code)``;
    the exit code is known only for children of this process."""
    with _lock:
        child = _children.get(pid)
    send(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout):
        log.warning("runner pid %s ignored SIGTERM for %.0f s, killing it", pid, timeout)
        send(pid, signal.SIGKILL)
        if not wait_gone(pid, 5.0):
            return False, None
    return True, child.returncode if child is not None else exit_code(pid)
