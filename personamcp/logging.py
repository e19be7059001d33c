"""Correlation ids and log formats.

Every log record carries a correlation id: one per HTTP request (``X-Request-ID`` kept when the
caller sends one), per JSON-RPC call, per turn and per Celery task (a task queued during a
request or turn carries that id along in its message headers). ``LOG_FORMAT=json`` writes one
JSON object per line with the id, and the trace and span ids when tracing is on.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import uuid
from datetime import UTC, datetime

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
HEADER = "personamcp_correlation_id"  # Celery message header


def new_correlation_id() -> str:
    value = uuid.uuid4().hex[:16]
    correlation_id.set(value)
    return value


@contextlib.contextmanager
def correlation(value: str | None = None):
    """Run a block under ``value``, or under the current id (a new one when there is none)."""
    current = correlation_id.get()
    token = correlation_id.set(value or (current if current != "-" else uuid.uuid4().hex[:16]))
    try:
        yield correlation_id.get()
    finally:
        correlation_id.reset(token)


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "correlation_id",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, trace ids,
    ``extra`` fields and the formatted exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None) or correlation_id.get(),
            "process": record.process,
        }
        from personamcp import tracing

        ids = tracing.current_ids()
        if ids:
            data["trace_id"], data["span_id"] = ids
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in data:
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class CorrelationIdMiddleware:
    """Give each HTTP request a correlation id (or keep the caller's X-Request-ID)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        value = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex[:16]
        token = correlation_id.set(value)
        try:
            response = self.get_response(request)
        finally:
            correlation_id.reset(token)
        response["X-Request-ID"] = value
        return response


# --- Celery: a task runs under the id of whoever queued it (or its own task id) ------------
_task_tokens: dict[str, contextvars.Token] = {}


def _before_publish(headers=None, **kwargs) -> None:
    current = correlation_id.get()
    if headers is not None and current != "-":
        headers.setdefault(HEADER, current)


def _task_prerun(task_id=None, task=None, **kwargs) -> None:
    request = getattr(task, "request", None)
    value = getattr(request, HEADER, None) or (
        request.get(HEADER) if hasattr(request, "get") else None
    )
    if not value and task_id:
        value = str(task_id).replace("-", "")[:16]
    if value and task_id:
        _task_tokens[task_id] = correlation_id.set(value)


def _task_postrun(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        with contextlib.suppress(ValueError):  # set in another context (eager runs)
            correlation_id.reset(token)


def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(_before_publish, weak=False, dispatch_uid="pm_cid_pub")
    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="pm_cid_pre")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="pm_cid_post")


connect_celery_signals()
