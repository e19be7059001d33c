"""Conversation (and, until they get their own app, room and LLM) domain exceptions."""

from personamcp.errors import register_error
from personamcp.exceptions import DomainError, NotFound


@register_error(-32003, 404)
class ConversationNotFound(NotFound):
    default_message = "conversation not found"


@register_error(-32005, 404)
class RoomNotFound(NotFound):
    default_message = "room not found"


@register_error(-32010, 503)
class LLMUnavailable(DomainError):
    default_message = "LLM backend unavailable"


@register_error(-32011, 504)
class LLMTimeout(DomainError):
    default_message = "LLM backend timeout"
