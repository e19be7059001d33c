"""Bot domain exceptions, each with its row in the one error table."""

from personamcp.errors import register_error
from personamcp.exceptions import NotFound


@register_error(-32006, 404)
class BotNotFound(NotFound):
    default_message = "bot not found"
