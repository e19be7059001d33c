"""Bot domain exceptions, each with its row in the one error table."""

from personamcp.errors import register_error
from personamcp.exceptions import Conflict, NotFound


@register_error(-32006, 404)
class BotNotFound(NotFound):
    default_message = "bot not found"


class AlreadyRunning(Conflict):
    """A second runner for a bot that already has a live process (-32040, as a conflict)."""

    default_message = "this bot is already running"
