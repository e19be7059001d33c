"""Bot processes reconciled with their run rows: start, stop, restart, the supervision pass with
crash backoff, and what a runner records about itself.

The ``BotRun`` row is the shared truth: the spawner writes the intent and the pid, the runner
writes its heartbeats and how it ended, whoever sees the process gone (the spawner's waiter
thread, a stop, the supervisor) records the final status. Every step follows one rule: claim in
a short transaction, act outside it (spawn, signal, wait), record the outcome in a second short
transaction. Nothing waits for a process while holding the row lock the runner itself needs.

Status is honest: ``stopping`` until the process has exited, ``stopped`` / ``crashed`` only
once it is gone.
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from bots import processes, selectors, services
from bots.exceptions import AlreadyRunning, BotNotFound
from bots.models import BotAccount, BotRun
from personamcp.exceptions import ValidationFailed

log = logging.getLogger(__name__)

HOST = socket.gethostname()
Status = BotRun.Status
LIVE = {Status.STARTING, Status.RUNNING, Status.STOPPING}
ENDED = {Status.STOPPED, Status.CRASHED}
# Exit code of a runner that must not be restarted automatically (bad credentials, bad config).
EXIT_FATAL = 78


def conf(name: str):
    return settings.BOTS[name]


def _refs(bot: BotAccount) -> set[str]:
    return {str(bot.id), bot.persona.slug}


def _save(run: BotRun, *fields: str) -> None:
    run.save(update_fields=[*fields, "updated_at"])


def _locked_run(bot: BotAccount) -> BotRun:
    """The bot's run row, locked for the current (short) transaction."""
    if not BotAccount.objects.filter(pk=bot.pk).exists():
        raise BotNotFound(f"bot {bot.pk} not found (deleted)")
    BotRun.objects.get_or_create(bot=bot)
    run = BotRun.objects.select_for_update().get(bot=bot)
    bot.run = run
    return run


def heartbeat_fresh(run: BotRun, now: datetime | None = None) -> bool:
    beat = run.last_heartbeat_at
    if beat is None:
        return False
    return ((now or timezone.now()) - beat).total_seconds() < conf("HEARTBEAT_TIMEOUT")


def process_running(bot: BotAccount, run: BotRun) -> bool:
    """Does the bot have a live process? Local pids are checked, remote ones by heartbeat."""
    if run.pid is None:
        return False
    if run.host == HOST:
        return processes.is_runner(run.pid, _refs(bot))
    return heartbeat_fresh(run)


# --- start ----------------------------------------------------------------------------------


def bot_start(*, bot: BotAccount) -> BotRun:
    """Start the bot's process (idempotent). Clears a previous give-up: the operator asked."""
    with transaction.atomic():
        run = _locked_run(bot)
        run.wanted, run.gave_up, run.fatal = True, False, False
        run.crash_times, run.last_error = [], ""
        _save(run, "wanted", "gave_up", "fatal", "crash_times", "last_error")
    return _launch(bot)


def _claim_start(bot: BotAccount, *, restart: bool) -> BotRun | None:
    """Mark the row ``starting`` for this host; None when a live process already has it."""
    with transaction.atomic():
        run = _locked_run(bot)
        if process_running(bot, run):
            return None
        if restart and run.status == Status.CRASHED:
            run.restarts += 1
        run.status, run.pid, run.host = Status.STARTING, None, HOST
        run.started_at, run.last_heartbeat_at = timezone.now(), None
        run.stopped_at = run.exit_code = run.next_start_at = run.exited_pid = None
        run.log_path = str(services.bot_log_path(bot))
        _save(run, *LAUNCH_FIELDS)
        return run


LAUNCH_FIELDS = (
    "restarts",
    "status",
    "pid",
    "host",
    "started_at",
    "last_heartbeat_at",
    "stopped_at",
    "exit_code",
    "next_start_at",
    "exited_pid",
    "log_path",
)


def _on_exit(bot_id: str):
    """The spawner's waiter thread: record the end of a reaped child at once."""

    def record(pid: int, code: int) -> None:
        close_old_connections()
        try:
            record_exit(bot=selectors.bot_get(bot_id=bot_id), pid=pid, code=code)
        except BotNotFound:
            pass
        finally:
            connection.close()  # this thread's own connection: do not leave it open

    return record


def _launch(bot: BotAccount, *, restart: bool = False) -> BotRun:
    """Spawn a runner for ``bot`` unless one is alive; the run row says ``starting``."""
    run = _claim_start(bot, restart=restart)
    if run is None:
        return bot.run
    pid = processes.spawn(
        str(bot.id), services.bot_console_path(bot), on_exit=_on_exit(str(bot.id))
    )
    # The runner writes its own pid when it claims the row; set it now as well so that a
    # supervisor running before the runner's first write can see the process.
    BotRun.objects.filter(pk=run.pk, pid__isnull=True, status=Status.STARTING).update(pid=pid)
    run.refresh_from_db()
    services.publish_status(bot, run)
    return run


# --- stop -----------------------------------------------------------------------------------


def _claim_stop(bot: BotAccount, *, keep_wanted: bool) -> tuple[BotRun, bool]:
    with transaction.atomic():
        run = _locked_run(bot)
        if not keep_wanted:
            run.wanted = False
        was_live = run.status in LIVE
        if was_live:
            run.status = Status.STOPPING
        _save(run, "wanted", "status")
        return run, was_live


def bot_stop(*, bot: BotAccount, keep_wanted: bool = False) -> BotRun:
    """Stop the bot's process: SIGTERM, then SIGKILL after ``BOTS['STOP_TIMEOUT']`` seconds.

    The row says ``stopping`` until the process is gone. A process on another host is asked to
    stop through its run row (it reads it at each heartbeat) and recorded there when it exits.
    """
    run, was_live = _claim_stop(bot, keep_wanted=keep_wanted)
    if was_live:
        services.publish_status(bot, run)
    pid = run.pid
    if pid and run.host != HOST and heartbeat_fresh(run):
        return run
    code = None
    if pid and run.host == HOST and processes.is_runner(pid, _refs(bot)):
        gone, code = processes.terminate(pid, timeout=conf("STOP_TIMEOUT"))
        if not gone:
            return run
    return record_exit(bot=bot, pid=pid, code=code)


def bot_restart(*, bot: BotAccount) -> BotRun:
    """Stop the bot's process (if any) and start a new one."""
    bot_stop(bot=bot, keep_wanted=True)
    return bot_start(bot=bot)


# --- the end of a process -------------------------------------------------------------------


def _exit_outcome(run: BotRun, pid: int | None, code: int | None) -> tuple[str, str, int | None]:
    """(status, crash reason or "", exit code) for a process that is gone."""
    if pid is not None and run.exited_pid == pid:  # the runner (or a kill) said how it ended
        if run.exit_code is None:  # killed by the supervisor, for the reason noted
            return Status.CRASHED, run.last_error, code
        if run.exit_code:
            return Status.CRASHED, run.last_error or f"exit code {run.exit_code}", run.exit_code
        return Status.STOPPED, "", 0
    if run.status == Status.STOPPING or pid is None:  # asked to stop, or never spawned
        return Status.STOPPED, "", code
    detail = f"exit code {code}" if code is not None else "process vanished"
    return Status.CRASHED, f"bot process died ({detail})", code


def _record_exit_locked(bot: BotAccount, run: BotRun, pid: int | None, code: int | None) -> bool:
    """Write the end of ``pid`` into the locked row; False when there is nothing to write."""
    if pid is not None and run.pid not in (pid, None):
        return False  # a newer runner owns the row
    if run.pid is None and run.status in ENDED:
        return False  # already recorded
    if pid and run.host == HOST and processes.alive(pid):
        return False  # not gone yet
    status, reason, code = _exit_outcome(run, pid, code)
    run.status, run.exit_code, run.pid = status, code, None
    run.stopped_at = timezone.now()
    if status == Status.CRASHED and not run.fatal:
        _record_crash(run, reason)
    elif status == Status.CRASHED:
        run.last_error = reason
    _save(run, "status", "exit_code", "pid", "stopped_at", *CRASH_FIELDS)
    return True


CRASH_FIELDS = ("crash_times", "last_error", "gave_up", "next_start_at")


def record_exit(*, bot: BotAccount, pid: int | None, code: int | None) -> BotRun:
    """Process ``pid`` of the bot is gone: ``stopped``, or ``crashed`` with the reason."""
    with transaction.atomic():
        run = _locked_run(bot)
        changed = _record_exit_locked(bot, run, pid, code)
    if changed:
        services.publish_status(bot, run)
    return run


def _backoff(crashes: int) -> float:
    if crashes <= 0:
        return 0.0
    return min(conf("BACKOFF_MAX"), conf("BACKOFF_BASE") * 2 ** (crashes - 1))


def _record_crash(run: BotRun, reason: str) -> None:
    """Count a crash in the window: back off exponentially, give up after too many."""
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


# --- requests from the front doors ----------------------------------------------------------


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
        run.wanted = action != "stop"
        if action == "start" and run.status in ENDED:
            run.status, run.started_at, run.pid, changed = (
                Status.STARTING,
                timezone.now(),
                None,
                True,
            )
        elif action == "stop" and run.status in {Status.STARTING, Status.RUNNING}:
            run.status, changed = Status.STOPPING, True
        _save(run, "wanted", "status", "started_at", "pid")
        if changed:
            services.publish_status(bot, run)
        _enqueue(task, str(bot.id))
    return bot


# --- what the runner writes -----------------------------------------------------------------


def bot_run_claim(*, bot: BotAccount, pid: int) -> BotRun:
    """A runner process takes the bot's run row (refused when another live runner has it)."""
    with transaction.atomic():
        run = _locked_run(bot)
        if run.pid and run.pid != pid and run.status in LIVE and process_running(bot, run):
            raise AlreadyRunning(f"bot {bot.user_id} already runs as pid {run.pid} on {run.host}")
        now = timezone.now()
        if run.pid != pid:
            run.started_at = now
        run.status, run.pid, run.host = Status.STARTING, pid, HOST
        run.last_heartbeat_at = now
        run.stopped_at = run.exit_code = run.exited_pid = None
        run.log_path = str(services.bot_log_path(bot))
        _save(
            run,
            "started_at",
            "status",
            "pid",
            "host",
            "last_heartbeat_at",
            "stopped_at",
            "exit_code",
            "exited_pid",
            "log_path",
        )
    services.publish_status(bot, run)
    return run


def bot_run_running(*, bot: BotAccount, pid: int) -> None:
    """The runner is logged in and syncing."""
    with transaction.atomic():
        run = _locked_run(bot)
        if run.pid != pid or run.status == Status.STOPPING:
            return
        run.status = Status.RUNNING
        run.last_heartbeat_at = timezone.now()
        run.last_error = ""
        _save(run, "status", "last_heartbeat_at", "last_error")
    services.publish_status(bot, run)


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
    """The runner says how it ends, just before it exits. The row says ``stopping`` (a clean
    end) until whoever sees the process gone records ``stopped`` / ``crashed``."""
    with transaction.atomic():
        run = _locked_run(bot)
        if run.pid not in (pid, None) or (run.exited_pid == pid and run.exit_code is None):
            return  # replaced, or being killed by the supervisor for a reason already noted
        run.exited_pid, run.exit_code = pid, exit_code
        if error:
            run.last_error = services.redact(error, services.bot_secrets(bot))[:2000]
        if exit_code == EXIT_FATAL:
            run.fatal = True
        if not (exit_code or error) and run.status in LIVE:
            run.status = Status.STOPPING
        _save(run, "exited_pid", "exit_code", "last_error", "fatal", "status")
    services.publish_status(bot, run)


# --- the supervision pass -------------------------------------------------------------------


def bot_supervise() -> dict[str, str]:
    """Reconcile every bot with its process: record runners that are gone, kill silent or stuck
    ones, adopt runners the row lost track of, kill duplicates, restart wanted bots with
    exponential backoff (giving up after too many crashes), stop disabled bots.
    Returns ``{bot id: what was done}``."""
    runners = processes.scan_runners()
    done: dict[str, str] = {}
    for bot in selectors.bot_all():
        try:
            action = _supervise_one(bot, runners.get(str(bot.id), []))
        except Exception:  # one broken bot must not stop the supervision of the others
            log.exception("bot %s: supervision failed", bot.id)
            continue
        if action:
            done[str(bot.id)] = action
    return done


def _supervise_one(bot: BotAccount, pids: list[int]) -> str | None:
    _kill_duplicates(bot, pids)
    adopted = _adopt(bot, pids)
    if adopted:
        return adopted
    done = _record_gone(bot)
    hung = _hung(bot)
    if hung:
        done = _kill_hung(bot, *hung)
    if _should_start(bot):
        _launch(bot, restart=True)
        return f"{done + ', ' if done else ''}started"
    if not bot.enabled and process_running(bot, bot.run):
        bot_stop(bot=bot)
        return "stopped (disabled)"
    return done


def _kill_duplicates(bot: BotAccount, pids: list[int]) -> None:
    run = bot.run
    if run.pid in pids and len(pids) > 1:
        for extra in (p for p in pids if p != run.pid):
            log.warning("bot %s: killing duplicate runner pid %s", bot.id, extra)
            processes.send(extra, 15)
        pids[:] = [run.pid]


def _adopt(bot: BotAccount, pids: list[int]) -> str | None:
    """A live runner the row does not know (the supervisor restarted): adopt it."""
    with transaction.atomic():
        run = _locked_run(bot)
        strays = [p for p in pids if p not in (run.pid, run.exited_pid)]
        if process_running(bot, run) or not strays or run.status == Status.STOPPING:
            return None
        run.pid, run.host, run.status = strays[0], HOST, Status.RUNNING
        run.last_heartbeat_at = run.last_heartbeat_at or timezone.now()
        _save(run, "pid", "host", "status", "last_heartbeat_at")
    services.publish_status(bot, run)
    return f"adopted pid {run.pid}"


def _record_gone(bot: BotAccount) -> str | None:
    """The row says live but the process is gone: record how it ended."""
    with transaction.atomic():
        run = _locked_run(bot)
        if run.status not in LIVE or process_running(bot, run):
            return None
        age = (timezone.now() - (run.started_at or timezone.now())).total_seconds()
        if run.status == Status.STARTING and run.pid is None and age < conf("START_TIMEOUT"):
            return None  # requested, the start task has not spawned it yet
        pid = run.pid
        if not _record_exit_locked(bot, run, pid, processes.exit_code(pid)):
            return None
    services.publish_status(bot, run)
    return run.status


def _hung(bot: BotAccount) -> tuple[int, str] | None:
    """(pid, reason) of a local runner that is alive but silent or stuck starting."""
    run = BotRun.objects.get(bot=bot)
    bot.run = run
    if run.host != HOST or not process_running(bot, run):
        return None
    now = timezone.now()
    if run.status == Status.RUNNING and not heartbeat_fresh(run, now):
        return run.pid, f"no heartbeat for {int(conf('HEARTBEAT_TIMEOUT'))} s (killed)"
    age = (now - (run.started_at or now)).total_seconds()
    if run.status == Status.STARTING and age > conf("START_TIMEOUT"):
        return run.pid, f"did not start within {int(conf('START_TIMEOUT'))} s (killed)"
    return None


def _kill_hung(bot: BotAccount, pid: int, reason: str) -> str | None:
    """Note why the runner is killed (as if it had said so), kill it outside any lock, then
    record its end like any other."""
    with transaction.atomic():
        run = _locked_run(bot)
        if run.pid != pid:
            return None
        run.exited_pid, run.exit_code, run.last_error = pid, None, reason
        _save(run, "exited_pid", "exit_code", "last_error")
    gone, code = processes.terminate(pid, timeout=conf("STOP_TIMEOUT"))
    return record_exit(bot=bot, pid=pid, code=code).status if gone else None


def _should_start(bot: BotAccount) -> bool:
    run = BotRun.objects.get(bot=bot)
    bot.run = run
    wanted = run.wanted if run.wanted is not None else bot.autostart
    due = run.next_start_at is None or run.next_start_at <= timezone.now()
    return (
        bot.enabled and wanted and run.status in ENDED and not run.gave_up and not run.fatal and due
    )
