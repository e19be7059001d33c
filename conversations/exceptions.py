"""Conversation domain exceptions.

The LLM failures live in ``llm.exceptions``; they are re-exported here for code written before
``llm/`` existed.
"""

from llm.exceptions import LLMTimeout, LLMUnavailable
from personamcp.errors import register_error
from personamcp.exceptions import NotFound

__all__ = ["ConversationNotFound", "LLMTimeout", "LLMUnavailable"]


@register_error(-32003, 404)
class ConversationNotFound(NotFound):
    default_message = "conversation not found"
