"""Lorebook domain exceptions.

PROTOCOL.md defines no code of its own for a missing lorebook: it is a plain ``NotFound``
(the shared table's generic not-found row, -32007 / HTTP 404).
"""

from personamcp.exceptions import NotFound, ValidationFailed


class LorebookNotFound(NotFound, message="lorebook not found"): ...


__all__ = ["LorebookNotFound", "ValidationFailed"]
