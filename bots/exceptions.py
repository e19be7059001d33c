"""Bot domain exceptions, each with its row in the one error table."""

from personamcp.exceptions import Conflict, DomainError, NotFound


class BotNotFound(NotFound, code=-32006, status=404, message="bot not found"): ...


class AlreadyRunning(Conflict, message="this bot is already running"):
    """A second runner for a bot that already has a live process (-32040, as a conflict)."""


class BotNotLoggedIn(Conflict, code=-32060, status=409, message="the bot has not logged in yet"):
    """A room action needs the bot's access token, made by its first login."""


class MatrixError(
    DomainError, code=-32061, status=502, message="the Matrix homeserver refused the request"
):
    """The homeserver refused (or could not be reached for) an operator's room action."""
