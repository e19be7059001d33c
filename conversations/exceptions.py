"""Conversation domain exceptions.

The LLM failures live in ``llm.exceptions``; they are re-exported here for code written before
``llm/`` existed.
"""

from llm.exceptions import LLMTimeout, LLMUnavailable
from personamcp.exceptions import NotFound

__all__ = ["ConversationNotFound", "LLMTimeout", "LLMUnavailable"]


class ConversationNotFound(NotFound, code=-32003, status=404, message="conversation not found"): ...
