"""Memory domain exceptions, each with its row in the one error table."""

from personamcp.exceptions import NotFound


class MemoryNotFound(NotFound, code=-32004, status=404, message="memory not found"): ...
