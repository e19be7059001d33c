"""Persona-MCP client: ``async with Client(url, api_key) as c: await c.send("hi", persona_id="alice")``."""

from .client import Client, Stream, Subscription, backoff_delay, topic_matches
from .errors import (
    ERRORS,
    Busy,
    Cancelled,
    ClientClosed,
    Conflict,
    ConnectionLost,
    ConversationNotFound,
    Forbidden,
    InternalError,
    InvalidParams,
    InvalidRequest,
    LLMTimeout,
    LLMUnavailable,
    MemoryNotFound,
    MethodNotFound,
    NoActivePersona,
    PersonaMCPError,
    PersonaNotFound,
    RateLimited,
    RequestTimeout,
    RoomNotFound,
    RpcError,
    Unauthenticated,
    error_from,
)
from .sync import SyncClient, SyncStream

__version__ = "1.1.0"
__all__ = [
    "ERRORS", "Busy", "Cancelled", "Client", "ClientClosed", "Conflict", "ConnectionLost",
    "ConversationNotFound", "Forbidden", "InternalError", "InvalidParams", "InvalidRequest",
    "LLMTimeout", "LLMUnavailable", "MemoryNotFound", "MethodNotFound", "NoActivePersona",
    "PersonaMCPError", "PersonaNotFound", "RateLimited", "RequestTimeout", "RoomNotFound",
    "RpcError", "Stream", "Subscription", "SyncClient", "SyncStream", "Unauthenticated",
    "backoff_delay", "error_from", "topic_matches",
]  # fmt: skip
