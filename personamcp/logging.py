"""Correlation ids: one per HTTP request, RPC request or turn, attached to every log record."""

from __future__ import annotations

import contextvars
import logging
import uuid

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


def new_correlation_id() -> str:
    value = uuid.uuid4().hex[:16]
    correlation_id.set(value)
    return value


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


class CorrelationIdMiddleware:
    """Give each HTTP request a correlation id (or keep the caller's X-Request-ID)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        value = incoming[:64] if incoming.isprintable() and incoming else new_correlation_id()
        token = correlation_id.set(value)
        try:
            response = self.get_response(request)
        finally:
            correlation_id.reset(token)
        response["X-Request-ID"] = value
        return response
