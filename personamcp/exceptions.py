"""The generic bases of every domain exception.

Concrete exceptions live in each app's ``exceptions.py`` (``personas.exceptions.PersonaNotFound``,
``memory.exceptions.MemoryNotFound``, ...) and register their JSON-RPC code and HTTP status with
``personamcp.errors.register_error``. They are translated exactly once at each edge:
``personamcp.errors`` is the one table, used by the RPC dispatcher and the REST exception handler.
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
    """Base of the apps' ``<Entity>NotFound``; each of those has its own code."""

    default_message = "not found"


class ValidationFailed(DomainError):
    """Bad input. ``errors`` is a list of ``{"field", "message"}``."""

    default_message = "invalid params"

    def __init__(self, errors: list[dict] | dict, message: str | None = None):
        if isinstance(errors, dict):
            errors = [{"field": k, "message": v} for k, v in errors.items()]
        self.errors = errors
        super().__init__(message, data={"errors": errors})


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
