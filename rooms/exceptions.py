"""Room domain exceptions."""

from personamcp.errors import register_error
from personamcp.exceptions import NotFound


@register_error(-32005, 404)
class RoomNotFound(NotFound):
    default_message = "room not found"
