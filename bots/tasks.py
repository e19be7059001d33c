"""Celery tasks that own the bot processes: they take ids and call bots.services."""

from __future__ import annotations

from celery import shared_task

from bots import selectors, supervision
from bots.exceptions import BotNotFound


def _bot(bot_id: str):
    try:
        return selectors.bot_get(bot_id=bot_id)
    except BotNotFound:
        return None


def _guard(func):
    """A bot deleted between the request and the task is not an error."""

    def wrapper(bot_id: str) -> dict:
        try:
            return func(bot_id)
        except BotNotFound:
            return {"bot_id": bot_id, "status": "missing"}

    wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
    return wrapper


@shared_task(name="bots.bot_start", time_limit=120)
@_guard
def bot_start(bot_id: str) -> dict:
    """Spawn the bot's runner process on this worker's host (no-op when one is alive)."""
    bot = _bot(bot_id)
    if bot is None:
        return {"bot_id": bot_id, "status": "missing"}
    run = supervision.bot_start(bot=bot)
    return {"bot_id": bot_id, "status": run.status, "pid": run.pid, "host": run.host}


@shared_task(name="bots.bot_stop", time_limit=120)
@_guard
def bot_stop(bot_id: str) -> dict:
    """SIGTERM the bot's runner, SIGKILL after the stop timeout."""
    bot = _bot(bot_id)
    if bot is None:
        return {"bot_id": bot_id, "status": "missing"}
    run = supervision.bot_stop(bot=bot)
    return {"bot_id": bot_id, "status": run.status, "exit_code": run.exit_code}


@shared_task(name="bots.bot_restart", time_limit=180)
@_guard
def bot_restart(bot_id: str) -> dict:
    """Stop the bot's runner and start a new one."""
    bot = _bot(bot_id)
    if bot is None:
        return {"bot_id": bot_id, "status": "missing"}
    run = supervision.bot_restart(bot=bot)
    return {"bot_id": bot_id, "status": run.status, "pid": run.pid, "host": run.host}


@shared_task(name="bots.bot_supervise", time_limit=300)
def bot_supervise() -> dict:
    """Periodic: detect crashed bots, restart wanted ones with backoff, adopt live runners."""
    return supervision.bot_supervise()
