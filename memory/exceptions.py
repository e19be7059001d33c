"""Memory domain exceptions, each with its row in the one error table."""

from personamcp.errors import register_error
from personamcp.exceptions import NotFound


@register_error(-32004, 404)
class MemoryNotFound(NotFound):
    default_message = "memory not found"
