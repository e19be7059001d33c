"""Core Celery tasks."""

from __future__ import annotations

import os
import socket

from celery import shared_task


@shared_task(name="personamcp.echo", time_limit=30, ignore_result=False)
def echo(value: str) -> dict:
    """Return the value with the executing host and pid: proves the worker path end to end."""
    return {"value": value, "host": socket.gethostname(), "pid": os.getpid()}
