"""Domain exceptions shared by every app.

Services raise these (or app-specific subclasses from ``<app>/exceptions.py``). They are
translated exactly once at each edge: ``personamcp.rpc.errors`` maps them to JSON-RPC error
codes and ``personamcp.api.exception_handler`` to HTTP statuses.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class; ``message`` is safe to show to clients."""

    default_message = "error"

    def __init__(self, message: str | None = None, *, data: dict | None = None):
        self.message = message or self.default_message
        self.data = data or {}
        super().__init__(self.message)


class NotFound(DomainError):
    default_message = "not found"


class PersonaNotFound(NotFound):
    default_message = "persona not found"


class NoActivePersona(DomainError):
    default_message = "no active persona: call persona.switch or pass persona_id"


class ConversationNotFound(NotFound):
    default_message = "conversation not found"


class MemoryNotFound(NotFound):
    default_message = "memory not found"


class RoomNotFound(NotFound):
    default_message = "room not found"


class BotNotFound(NotFound):
    default_message = "bot not found"


class ValidationFailed(DomainError):
    """Bad input. ``errors`` is a list of ``{"field", "message"}``."""

    default_message = "invalid params"

    def __init__(self, errors: list[dict] | dict, message: str | None = None):
        if isinstance(errors, dict):
            errors = [{"field": k, "message": v} for k, v in errors.items()]
        self.errors = errors
        super().__init__(message, data={"errors": errors})


class LLMUnavailable(DomainError):
    default_message = "LLM backend unavailable"


class LLMTimeout(DomainError):
    default_message = "LLM backend timeout"


class Unauthenticated(DomainError):
    default_message = "authentication required"


class Forbidden(DomainError):
    default_message = "forbidden"


class RateLimited(DomainError):
    default_message = "rate limited"

    def __init__(self, retry_after: float, message: str | None = None):
        self.retry_after = retry_after
        super().__init__(message, data={"retry_after": retry_after})


class Busy(DomainError):
    default_message = "this conversation is already generating a reply"


class Cancelled(DomainError):
    default_message = "cancelled"


class Conflict(DomainError):
    default_message = "conflict"
