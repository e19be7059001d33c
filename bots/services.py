"""Writes for bots: accounts, and the processes that run them (start, stop, supervise, logs).

A bot process is ``python manage.py runbot <bot id>`` in its own session, so that it survives
the worker that spawned it and can be found again (adopted) by the next supervisor. Its
``BotRun`` row is the shared truth: the spawner writes the intent and the pid, the process
writes its heartbeats and how it ended, the supervisor reconciles both with what it sees.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from bots import selectors
from bots.exceptions import BotNotFound
from bots.models import BotAccount, BotRun
from personamcp import events
from personamcp.exceptions import Conflict, ValidationFailed
from personas.models import Persona

log = logging.getLogger(__name__)

HOST = socket.gethostname()
Status = BotRun.Status
LIVE = {Status.STARTING, Status.RUNNING, Status.STOPPING}
# Exit code of a runner that must not be restarted automatically (bad credentials, bad config).
EXIT_FATAL = 78

USER_ID_RE = re.compile(r"^@[^:\s]+:[^\s]+$")
ROOM_RE = re.compile(r"^[!#][^:\s]+:[^\s]+$")
ALLOW_RE = re.compile(r"^(@[^:\s]+:[^\s]+|:[^\s]+)$")

# Bot processes this process spawned (so that it can reap them and read their exit codes).
_children: dict[int, subprocess.Popen] = {}


def conf(name: str):
    return settings.BOTS[name]


# --- logs ---------------------------------------------------------------------------------


def log_dir() -> Path:
    path = Path(settings.VAR_DIR) / "bots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def bot_log_path(bot: BotAccount) -> Path:
    """The rotating log file of a bot (written by its runner)."""
    return log_dir() / f"{bot.id}.log"


def bot_console_path(bot: BotAccount) -> Path:
    """Where a spawned bot's stdout/stderr go (start-up failures before logging is set up)."""
    return log_dir() / f"{bot.id}.console.log"


def redact(text: str, secrets: list[str]) -> str:
    """Remove credentials from a text (exact secrets and anything that looks like a token)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = re.sub(r"(access_token[\"'=:\s]+)[^\s&\"',}]+", r"\1***", text)
    return re.sub(r"(Bearer\s+)[^\s\"',}]+", r"\1***", text)


def _tail_lines(path: Path, limit: int) -> list[str]:
    if not path.exists():
        return []
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        block = max(4096, limit * 300)
        data = b""
        while size > 0 and data.count(b"\n") <= limit:
            step = min(block, size)
            size -= step
            fh.seek(size)
            data = fh.read(step) + data
    return data.decode("utf-8", errors="replace").splitlines()[-limit:]


def bot_logs(*, bot: BotAccount, limit: int = 100) -> list[str]:
    """The last ``limit`` lines of the bot's log (older rotated file included when needed)."""
    path = bot_log_path(bot)
    lines = _tail_lines(path, limit)
    if len(lines) < limit:
        lines = _tail_lines(path.with_name(path.name + ".1"), limit - len(lines)) + lines
    if not lines:
        lines = _tail_lines(bot_console_path(bot), limit)
    secrets = [bot.password, bot.access_token]
    return [redact(line, secrets) for line in lines]


# --- accounts -----------------------------------------------------------------------------


def _check(field: str, value, pattern: re.Pattern, message: str, errors: list) -> None:
    values = value if isinstance(value, list) else [value]
    for item in values:
        if not isinstance(item, str) or not pattern.match(item):
            errors.append({"field": field, "message": f"{message}: {item!r}"})
            return


def validate_fields(data: dict) -> None:
    """Check the Matrix-shaped fields of a bot; raises ``ValidationFailed`` naming each."""
    errors: list[dict] = []
    if "homeserver" in data and not re.match(r"^https?://[^\s/]+", data["homeserver"] or ""):
        errors.append({"field": "homeserver", "message": "must be an http(s) URL"})
    if "user_id" in data:
        _check("user_id", data["user_id"], USER_ID_RE, "not a Matrix user id", errors)
    if "rooms" in data:
        _check("rooms", data["rooms"], ROOM_RE, "not a room id or alias", errors)
    if "invite_allowlist" in data:
        _check(
            "invite_allowlist",
            data["invite_allowlist"],
            ALLOW_RE,
            "not a user id or :server",
            errors,
        )
    if "invite_policy" in data and data["invite_policy"] not in BotAccount.InvitePolicy.values:
        errors.append({"field": "invite_policy", "message": "must be anyone, allowlist or never"})
    if errors:
        raise ValidationFailed(errors)


def _publish(bot: BotAccount, run: BotRun) -> None:
    from bots.serializers import bot_data

    bot.run = run
    events.publish(
        events.BOT_STATUS_CHANGED,
        kind="bot",
        keys=(str(bot.id), bot.persona.slug),
        data=bot_data(bot),
    )


@transaction.atomic
def bot_create(
    *,
    persona: Persona,
    homeserver: str,
    user_id: str,
    password: str = "",
    access_token: str = "",
    device_id: str = "",
    rooms: list[str] | None = None,
    invite_policy: str = BotAccount.InvitePolicy.ANYONE,
    invite_allowlist: list[str] | None = None,
    answer_bots: bool = False,
    enabled: bool = True,
    autostart: bool = False,
) -> BotAccount:
    """Create a persona's Matrix bot account (needs a password or an access token)."""
    data = {
        "homeserver": homeserver.rstrip("/"),
        "user_id": user_id,
        "rooms": list(rooms or []),
        "invite_policy": invite_policy,
        "invite_allowlist": list(invite_allowlist or []),
    }
    validate_fields(data)
    if not (password or access_token):
        raise ValidationFailed(
            [{"field": "password", "message": "a password or an access token is required"}]
        )
    if BotAccount.objects.filter(user_id=user_id).exists():
        raise Conflict(f"a bot with user id {user_id} already exists")
    try:
        with transaction.atomic():
            bot = BotAccount.objects.create(
                persona=persona,
                password=password,
                access_token=access_token,
                device_id=device_id,
                answer_bots=answer_bots,
                enabled=enabled,
                autostart=autostart,
                **data,
            )
    except IntegrityError:
        raise Conflict(f"a bot with user id {user_id} already exists") from None
    run = BotRun.objects.create(bot=bot, log_path=str(bot_log_path(bot)))
    _publish(bot, run)
    return bot


UPDATABLE = {
    "homeserver",
    "user_id",
    "password",
    "access_token",
    "device_id",
    "rooms",
    "invite_policy",
    "invite_allowlist",
    "answer_bots",
    "enabled",
    "autostart",
    "persona",
}


@transaction.atomic
def bot_update(*, bot: BotAccount, **changes) -> BotAccount:
    """Change some fields of a bot. New credentials clear a 'fatal' state so it may start again.

    A new homeserver or user id forgets the stored access token and device (they belonged to
    the old account) unless new ones are given.
    """
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValidationFailed([{"field": f, "message": "unknown field"} for f in sorted(unknown)])
    if changes.get("homeserver"):
        changes["homeserver"] = changes["homeserver"].rstrip("/")
    validate_fields(changes)
    if (
        "user_id" in changes
        and changes["user_id"] != bot.user_id
        and BotAccount.objects.filter(user_id=changes["user_id"]).exclude(pk=bot.pk).exists()
    ):
        raise Conflict(f"a bot with user id {changes['user_id']} already exists")
    account_moved = any(
        f in changes and changes[f] != getattr(bot, f) for f in ("homeserver", "user_id")
    )
    if account_moved:
        changes.setdefault("access_token", "")
        changes.setdefault("device_id", "")
    for field, value in changes.items():
        setattr(bot, field, value)
    if not (bot.password or bot.access_token):
        raise ValidationFailed(
            [{"field": "password", "message": "a password or an access token is required"}]
        )
    bot.save()
    selectors.ensure_run(bot)
    run = BotRun.objects.get(bot=bot)
    if {"password", "access_token", "homeserver", "user_id"} & set(changes) and (
        run.fatal or run.gave_up
    ):
        run.fatal = False
        run.gave_up = False
        run.crash_times = []
        run.save(update_fields=["fatal", "gave_up", "crash_times", "updated_at"])
    _publish(bot, run)
    return bot


def bot_delete(*, bot: BotAccount) -> str:
    """Stop the bot's process (if any) and delete the account. Returns the bot id."""
    bot_stop(bot=bot)
    bot_id = str(bot.id)
    bot.delete()
    return bot_id


def bot_credentials_store(*, bot: BotAccount, access_token: str, device_id: str) -> None:
    """Keep the access token and device of a successful login for the next start."""
    bot.access_token, bot.device_id = access_token, device_id
    BotAccount.objects.filter(pk=bot.pk).update(access_token=access_token, device_id=device_id)


def bot_avatar_store(*, bot: BotAccount, sha256: str, mxc: str) -> None:
    """Remember the avatar uploaded to the homeserver (skip re-uploads)."""
    bot.avatar_sha256, bot.avatar_mxc = sha256, mxc
    BotAccount.objects.filter(pk=bot.pk).update(avatar_sha256=sha256, avatar_mxc=mxc)


# --- processes ----------------------------------------------------------------------------


def _proc_state(pid: int) -> str | None:
    """The /proc state letter of a pid ('Z' zombie...), None when the pid does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[0]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pid_alive(pid: int | None) -> bool:
    """Is this local pid a live (not zombie) process? Reaps children of this process."""
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _proc_state(pid) not in {None, "Z", "X"}


def _is_runner(pid: int, bot: BotAccount) -> bool:
    """Is ``pid`` a runbot process of this bot (guards against a recycled pid)?"""
    args = _cmdline(pid)
    if not args:
        return not Path("/proc").exists()
    return "runbot" in args and (str(bot.id) in args or bot.persona.slug in args)


def _heartbeat_fresh(run: BotRun, now: datetime | None = None) -> bool:
    beat = run.last_heartbeat_at
    if beat is None:
        return False
    now = now or timezone.now()
    return (now - beat).total_seconds() < conf("HEARTBEAT_TIMEOUT")


def process_running(bot: BotAccount, run: BotRun) -> bool:
    """Does the bot have a live process? Local pids are checked, remote ones by heartbeat."""
    if run.pid is None:
        return False
    if run.host == HOST:
        return pid_alive(run.pid) and _is_runner(run.pid, bot)
    return _heartbeat_fresh(run)


def _exit_code(pid: int | None) -> int | None:
    child = _children.get(pid) if pid else None
    if child is None:
        return None
    code = child.poll()
    if code is not None:
        _children.pop(pid, None)
    return code


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(conf("CHILD_ENV") if "CHILD_ENV" in settings.BOTS else {})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _spawn(bot: BotAccount) -> subprocess.Popen:
    console = bot_console_path(bot)
    if console.exists() and console.stat().st_size > 1_000_000:
        console.unlink()
    with open(console, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(settings.BASE_DIR) / "manage.py"),
                "runbot",
                str(bot.id),
                "--no-console",
            ],
            cwd=str(settings.BASE_DIR),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_child_env(),
            close_fds=True,
        )
    _children[proc.pid] = proc
    log.info("bot %s: spawned runner pid %s", bot.id, proc.pid)
    return proc


def _locked_run(bot: BotAccount) -> BotRun:
    if not BotAccount.objects.filter(pk=bot.pk).exists():
        raise BotNotFound(f"bot {bot.pk} not found (deleted)")
    BotRun.objects.get_or_create(bot=bot)
    run = BotRun.objects.select_for_update().get(bot=bot)
    bot.run = run
    return run


def _launch(bot: BotAccount, *, reason: str = "") -> BotRun:
    """Spawn a runner for ``bot`` unless one is alive; the run row says ``starting``."""
    with transaction.atomic():
        run = _locked_run(bot)
        if process_running(bot, run):
            return run
        run.status = Status.STARTING
        run.pid = None
        run.host = HOST
        run.started_at = timezone.now()
        run.last_heartbeat_at = None
        run.stopped_at = None
        run.exit_code = None
        run.next_start_at = None
        run.log_path = str(bot_log_path(bot))
        if reason:
            run.last_error = reason
        run.save()
    proc = _spawn(bot)
    # The runner writes its own pid when it claims the row; set it now as well so that a
    # supervisor running before the runner's first write can see the process.
    BotRun.objects.filter(pk=run.pk, pid__isnull=True).update(pid=proc.pid)
    run.refresh_from_db()
    _publish(bot, run)
    return run


def bot_start(*, bot: BotAccount) -> BotRun:
    """Start the bot's process (idempotent). Clears a previous give-up: the operator asked."""
    with transaction.atomic():
        run = _locked_run(bot)
        run.wanted = True
        run.gave_up = False
        run.fatal = False
        run.crash_times = []
        run.last_error = ""
        run.save(
            update_fields=["wanted", "gave_up", "fatal", "crash_times", "last_error", "updated_at"]
        )
    return _launch(bot)


def _terminate(bot: BotAccount, run: BotRun) -> int | None:
    """SIGTERM the local runner (its whole session), SIGKILL after the stop timeout."""
    pid = run.pid
    if not (pid and run.host == HOST and pid_alive(pid) and _is_runner(pid, bot)):
        return _exit_code(pid)

    def signal_group(sig: int) -> None:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    signal_group(signal.SIGTERM)
    deadline = time.monotonic() + conf("STOP_TIMEOUT")
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        log.warning("bot %s: runner pid %s ignored SIGTERM, killing it", bot.id, pid)
        signal_group(signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.05)
        code = _exit_code(pid)
        return code if code is not None else -signal.SIGKILL
    return _exit_code(pid)


def bot_stop(*, bot: BotAccount, keep_wanted: bool = False) -> BotRun:
    """Stop the bot's process: SIGTERM, then SIGKILL after ``BOTS['STOP_TIMEOUT']`` seconds.

    A process on another host is asked to stop through its run row (it checks it at each
    heartbeat); the row then says ``stopping`` until it exits.
    """
    with transaction.atomic():
        run = _locked_run(bot)
        if not keep_wanted:
            run.wanted = False
        was_live = run.status in LIVE
        if was_live:
            run.status = Status.STOPPING
        run.save()
    if was_live:
        _publish(bot, run)
    remote = run.pid and run.host != HOST and _heartbeat_fresh(run)
    code = _terminate(bot, run)
    with transaction.atomic():
        run = _locked_run(bot)
        if remote and process_running(bot, run):
            return run
        if run.status != Status.STOPPED or run.pid:
            run.status = Status.STOPPED
            run.stopped_at = run.stopped_at if run.pid is None else timezone.now()
            if code is not None:
                run.exit_code = code
            run.pid = None
            run.next_start_at = None
            run.save()
            changed = True
        else:
            changed = was_live
    if changed:
        _publish(bot, run)
    return run


def bot_restart(*, bot: BotAccount) -> BotRun:
    """Stop the bot's process (if any) and start a new one."""
    bot_stop(bot=bot, keep_wanted=True)
    return bot_start(bot=bot)


def _enqueue(task, *args) -> None:
    from personamcp import jobs

    if jobs.embedded():
        jobs.enqueue(task, *args)
    else:
        queue = conf("QUEUE")
        transaction.on_commit(lambda: task.apply_async(args=args, queue=queue))


def bot_request(*, bot: BotAccount, action: str) -> BotAccount:
    """Ask the bot workers to ``start``, ``stop`` or ``restart`` a bot (Celery task).

    The intent is recorded at once (``starting`` / ``stopping``), the process work happens in
    the worker that owns bot processes (in-process in embedded mode).
    """
    from bots import tasks

    task = {"start": tasks.bot_start, "stop": tasks.bot_stop, "restart": tasks.bot_restart}.get(
        action
    )
    if task is None:
        raise ValidationFailed([{"field": "action", "message": "must be start, stop or restart"}])
    with transaction.atomic():
        run = _locked_run(bot)
        changed = False
        if action == "start":
            run.wanted = True
            if run.status in {Status.STOPPED, Status.CRASHED}:
                run.status, changed = Status.STARTING, True
                run.started_at = timezone.now()
                run.pid = None
        elif action == "stop":
            run.wanted = False
            if run.status in {Status.STARTING, Status.RUNNING}:
                run.status, changed = Status.STOPPING, True
        else:
            run.wanted = True
        run.save()
        if changed:
            _publish(bot, run)
        _enqueue(task, str(bot.id))
    return bot


# --- what the runner writes ---------------------------------------------------------------


class AlreadyRunning(Conflict):
    default_message = "this bot is already running"


def bot_run_claim(*, bot: BotAccount, pid: int) -> BotRun:
    """A runner process takes the bot's run row (refused when another live runner has it)."""
    with transaction.atomic():
        run = _locked_run(bot)
        if run.pid and run.pid != pid and run.status in LIVE and process_running(bot, run):
            raise AlreadyRunning(f"bot {bot.user_id} already runs as pid {run.pid} on {run.host}")
        now = timezone.now()
        if run.pid != pid:
            run.started_at = now
        run.status = Status.STARTING
        run.pid, run.host = pid, HOST
        run.last_heartbeat_at = now
        run.stopped_at = None
        run.exit_code = None
        run.log_path = str(bot_log_path(bot))
        run.save()
    _publish(bot, run)
    return run


def bot_run_running(*, bot: BotAccount, pid: int) -> None:
    """The runner is logged in and syncing."""
    with transaction.atomic():
        run = _locked_run(bot)
        if run.pid != pid:
            return
        run.status = Status.RUNNING
        run.last_heartbeat_at = timezone.now()
        run.last_error = ""
        run.save(update_fields=["status", "last_heartbeat_at", "last_error", "updated_at"])
    _publish(bot, run)


def bot_heartbeat(*, bot: BotAccount, pid: int) -> bool:
    """Record a heartbeat; False when the runner should exit (asked to stop, or replaced)."""
    now = timezone.now()
    updated = (
        BotRun.objects.filter(bot=bot, pid=pid)
        .exclude(status=Status.STOPPING)
        .update(last_heartbeat_at=now, updated_at=now)
    )
    return bool(updated)


def bot_run_finish(*, bot: BotAccount, pid: int, exit_code: int, error: str = "") -> None:
    """The runner ends: ``stopped`` on a clean exit, ``crashed`` with the reason otherwise."""
    with transaction.atomic():
        run = _locked_run(bot)
        if run.pid not in (pid, None):
            return
        run.status = Status.CRASHED if (exit_code or error) else Status.STOPPED
        run.exit_code = exit_code
        run.stopped_at = timezone.now()
        run.pid = None
        run.exited_pid = pid
        if error:
            run.last_error = redact(error, [bot.password, bot.access_token])[:2000]
        if exit_code == EXIT_FATAL:
            run.fatal = True
        if run.status == Status.CRASHED and exit_code != EXIT_FATAL:
            _record_crash(run, run.last_error or f"exit code {exit_code}")
        run.save()
    _publish(bot, run)


# --- supervision --------------------------------------------------------------------------


def _backoff(crashes: int) -> float:
    if crashes <= 0:
        return 0.0
    return min(conf("BACKOFF_MAX"), conf("BACKOFF_BASE") * 2 ** (crashes - 1))


def _record_crash(run: BotRun, reason: str) -> None:
    now = timezone.now()
    window = timedelta(seconds=conf("CRASH_WINDOW"))
    recent = [t for t in run.crash_times if datetime.fromisoformat(t) > now - window]
    recent.append(now.isoformat())
    run.crash_times = recent
    run.last_error = reason
    if len(recent) >= conf("MAX_CRASHES"):
        run.gave_up = True
        run.next_start_at = None
        run.last_error = (
            f"gave up after {len(recent)} crashes within {int(conf('CRASH_WINDOW'))} s; "
            f"last: {reason}"
        )[:2000]
    else:
        run.next_start_at = now + timedelta(seconds=_backoff(len(recent)))


def _scan_runners() -> dict[str, list[int]]:
    """Local runbot processes started by bot id: {bot id: [pids]} (for adoption)."""
    found: dict[str, list[int]] = {}
    proc = Path("/proc")
    if not proc.exists():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        args = _cmdline(pid)
        if "runbot" not in args or pid == os.getpid():
            continue
        index = args.index("runbot")
        if index + 1 < len(args) and pid_alive(pid):
            found.setdefault(args[index + 1], []).append(pid)
    return found


def _supervise_one(bot: BotAccount, runners: list[int], now: datetime) -> str | None:
    """Reconcile one bot; returns what was done (for the summary) or None."""
    with transaction.atomic():
        run = _locked_run(bot)
        action = None
        alive = process_running(bot, run)
        local_runners = [p for p in runners if p not in (run.pid, run.exited_pid)]
        if not alive and local_runners and run.status != Status.STOPPING:
            # A live runner the row does not know (the supervisor restarted): adopt it.
            run.pid, run.host = local_runners[0], HOST
            run.status = Status.RUNNING
            run.last_heartbeat_at = run.last_heartbeat_at or now
            run.save()
            _publish(bot, run)
            return f"adopted pid {run.pid}"
        if run.status in LIVE and not alive:
            code = _exit_code(run.pid)
            if run.status == Status.STOPPING:
                run.status = Status.STOPPED
                run.stopped_at = now
                run.exit_code = code
                run.pid = None
                action = "stopped"
            elif (
                run.status == Status.STARTING
                and run.pid is None
                and (now - (run.started_at or now)).total_seconds() < conf("START_TIMEOUT")
            ):
                return None  # requested, the start task has not spawned it yet
            else:
                run.status = Status.CRASHED
                run.stopped_at = now
                run.exit_code = code
                run.pid = None
                detail = f"exit code {code}" if code is not None else "process vanished"
                _record_crash(run, f"bot process died ({detail})")
                action = "crashed"
        elif alive and run.status == Status.RUNNING and not _heartbeat_fresh(run, now):
            _terminate(bot, run)
            run.status = Status.CRASHED
            run.stopped_at = now
            run.pid = None
            _record_crash(run, f"no heartbeat for {int(conf('HEARTBEAT_TIMEOUT'))} s (killed)")
            action = "crashed"
        elif (
            alive
            and run.status == Status.STARTING
            and (now - (run.started_at or now)).total_seconds() > conf("START_TIMEOUT")
        ):
            _terminate(bot, run)
            run.status = Status.CRASHED
            run.stopped_at = now
            run.pid = None
            _record_crash(run, f"did not start within {int(conf('START_TIMEOUT'))} s (killed)")
            action = "crashed"
        if action:
            run.save()
            _publish(bot, run)
        wanted = run.wanted if run.wanted is not None else bot.autostart
        due = run.next_start_at is None or run.next_start_at <= timezone.now()
        restart = (
            bot.enabled
            and wanted
            and run.status in {Status.STOPPED, Status.CRASHED}
            and not run.gave_up
            and not run.fatal
            and due
        )
        if restart and run.status == Status.CRASHED:
            run.restarts += 1
            run.save(update_fields=["restarts", "updated_at"])
        stop = not bot.enabled and alive
    if restart:
        _launch(bot)
        return f"{action + ', ' if action else ''}started"
    if stop:
        bot_stop(bot=bot)
        return "stopped (disabled)"
    return action


def bot_supervise() -> dict[str, str]:
    """Reconcile every bot with its process: detect dead or silent runners (crashed), restart
    wanted ones with exponential backoff (giving up after too many crashes), adopt runners the
    row lost track of, kill duplicates, stop disabled bots. Returns ``{bot id: action}``."""
    now = timezone.now()
    runners = _scan_runners()
    done: dict[str, str] = {}
    for bot in selectors.bot_list():
        pids = runners.get(str(bot.id), [])
        run = bot.run
        if run.pid in pids and len(pids) > 1:
            for extra in (p for p in pids if p != run.pid):
                log.warning("bot %s: killing duplicate runner pid %s", bot.id, extra)
                try:
                    os.killpg(extra, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
            pids = [run.pid]
        try:
            action = _supervise_one(bot, pids, now)
        except Exception:  # one broken bot must not stop the supervision of the others
            log.exception("bot %s: supervision failed", bot.id)
            continue
        if action:
            done[str(bot.id)] = action
    return done


def bot_sync_profile(*, bot: BotAccount) -> dict:
    """Set the bot's Matrix display name and avatar from its persona (logs in when needed)."""
    import asyncio

    from bots import runner

    return asyncio.run(runner.sync_profile_once(bot))
