"""The generic bases of every domain exception.

Concrete exceptions live in each app's ``exceptions.py`` (``personas.exceptions.PersonaNotFound``,
``memory.exceptions.MemoryNotFound``, ...), each declared in its class line::

    class RoomNotFound(NotFound, code=-32005, status=404, message="room not found"): ...

``message`` is the default message; ``code`` and ``status`` (JSON-RPC error code, HTTP status)
give the class its row in ``personamcp.errors``, the one table (``register_error``), used by the
RPC dispatcher and the REST exception handler; a class without them answers with its parent's.
They are translated exactly once at each edge.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class; ``message`` is safe to show to clients."""

    default_message = "error"

    def __init_subclass__(
        cls, *, code: int | None = None, status: int | None = None, message: str | None = None
    ):
        super().__init_subclass__()
        if message is not None:
            cls.default_message = message
        if code is not None:
            from personamcp.errors import register_error

            register_error(code, status)(cls)

    def __init__(self, message: str | None = None, *, data: dict | None = None):
        self.message = message or self.default_message
        self.data = data or {}
        super().__init__(self.message)


class NotFound(DomainError, message="not found"):
    """Base of the apps' ``<Entity>NotFound``; each of those has its own code."""


class ValidationFailed(DomainError, message="invalid params"):
    """Bad input. ``errors`` is a list of ``{"field", "message"}``."""

    def __init__(self, errors: list[dict] | dict, message: str | None = None):
        if isinstance(errors, dict):
            errors = [{"field": k, "message": v} for k, v in errors.items()]
        self.errors = errors
        super().__init__(message, data={"errors": errors})


class Unauthenticated(DomainError, message="authentication required"): ...


class Forbidden(DomainError, message="forbidden"): ...


class RateLimited(DomainError, message="rate limited"):
    def __init__(self, retry_after: float, message: str | None = None):
        self.retry_after = retry_after
        super().__init__(message, data={"retry_after": retry_after})


class Busy(DomainError, message="this conversation is already generating a reply"): ...


class Cancelled(DomainError, message="cancelled"): ...


class Conflict(DomainError, message="conflict"): ...
