"""LLM backend failures, as clients see them (-32010 / -32011).

The message says what failed (which backend, unreachable, HTTP status, timeout, malformed
stream) and never carries the backend's own body or the operating system's error text; those
go to the log, under the request's correlation id, which ``data.correlation_id`` repeats.
"""

from __future__ import annotations

from personamcp.exceptions import DomainError
from personamcp.logging import correlation_id


class LLMError(DomainError):
    """Base of the LLM failures; carries the correlation id of the log line with the details."""

    def __init__(self, message: str | None = None, *, data: dict | None = None):
        cid = correlation_id.get()
        extra = {"correlation_id": cid} if cid and cid != "-" else {}
        super().__init__(message, data={**extra, **(data or {})})


class LLMUnavailable(LLMError, code=-32010, status=503, message="LLM backend unavailable"): ...


class LLMTimeout(LLMError, code=-32011, status=504, message="LLM backend timeout"): ...
