"""Bot domain exceptions, each with its row in the one error table."""

from personamcp.errors import register_error
from personamcp.exceptions import Conflict, DomainError, NotFound


@register_error(-32006, 404)
class BotNotFound(NotFound):
    default_message = "bot not found"


class AlreadyRunning(Conflict):
    """A second runner for a bot that already has a live process (-32040, as a conflict)."""

    default_message = "this bot is already running"


@register_error(-32060, 409)
class BotNotLoggedIn(Conflict):
    """A room action needs the bot's access token, made by its first login."""

    default_message = "the bot has not logged in yet"


@register_error(-32061, 502)
class MatrixError(DomainError):
    """The homeserver refused (or could not be reached for) an operator's room action."""

    default_message = "the Matrix homeserver refused the request"
