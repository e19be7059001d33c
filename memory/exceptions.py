"""Memory domain exceptions (re-exported from the shared table so callers import one place)."""

from personamcp.exceptions import Forbidden, MemoryNotFound, PersonaNotFound, ValidationFailed

__all__ = ["Forbidden", "MemoryNotFound", "PersonaNotFound", "ValidationFailed"]
