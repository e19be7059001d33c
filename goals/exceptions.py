"""Goal and trigger domain exceptions.

PROTOCOL.md gives no code of its own to a missing goal or trigger: they answer with the shared
table's generic not-found row (-32007 / HTTP 404), like a missing lorebook.
"""

from personamcp.exceptions import NotFound, ValidationFailed


class GoalNotFound(NotFound, message="goal not found"): ...


class TriggerNotFound(NotFound, message="trigger not found"): ...


__all__ = ["GoalNotFound", "TriggerNotFound", "ValidationFailed"]
