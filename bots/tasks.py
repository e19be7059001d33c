"""Celery tasks that own the bot processes: they take ids and call bots.services."""

from __future__ import annotations

from celery import shared_task

from bots import selectors, supervision
from bots.exceptions import BotNotFound


def _process_task(act, *, time_limit: int, reports: tuple[str, ...], doc: str):
    """The task ``bots.<name of act>``: ``act`` (a ``supervision`` operation) on one bot,
    returning the run's status and its ``reports`` fields. A bot deleted between the request and
    the task is not an error (status ``missing``)."""

    def task(bot_id: str) -> dict:
        try:
            run = act(bot=selectors.bot_get(bot_id=bot_id))
        except BotNotFound:
            return {"bot_id": bot_id, "status": "missing"}
        return {"bot_id": bot_id, "status": run.status, **{f: getattr(run, f) for f in reports}}

    task.__name__ = task.__qualname__ = act.__name__
    task.__doc__ = doc
    return shared_task(name=f"bots.{act.__name__}", time_limit=time_limit)(task)


bot_start = _process_task(
    supervision.bot_start,
    time_limit=120,
    reports=("pid", "host"),
    doc="Spawn the bot's runner process on this worker's host (no-op when one is alive).",
)
bot_stop = _process_task(
    supervision.bot_stop,
    time_limit=120,
    reports=("exit_code",),
    doc="SIGTERM the bot's runner, SIGKILL after the stop timeout.",
)
bot_restart = _process_task(
    supervision.bot_restart,
    time_limit=180,
    reports=("pid", "host"),
    doc="Stop the bot's runner and start a new one.",
)


@shared_task(name="bots.bot_supervise", time_limit=300)
def bot_supervise() -> dict:
    """Periodic: detect crashed bots, restart wanted ones with backoff, adopt live runners."""
    return supervision.bot_supervise()
