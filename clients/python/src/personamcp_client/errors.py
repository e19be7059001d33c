"""Typed errors: one class per JSON-RPC error code of the Persona-MCP protocol."""

from __future__ import annotations

from typing import Any


class PersonaMCPError(Exception):
    """Base class of every error this client raises."""


class ConnectionLost(PersonaMCPError):
    """The socket closed while a request was waiting for its answer (it may or may not have
    run on the server); the client reconnects by itself unless it was closed."""


class ClientClosed(PersonaMCPError):
    """The client was closed."""


class RequestTimeout(PersonaMCPError, TimeoutError):
    """No answer within the request timeout."""


class RpcError(PersonaMCPError):
    """An error response: ``code``, ``message`` and ``data`` as the server sent them."""

    code: int = 0

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data


class ParseError(RpcError):
    code = -32700


class InvalidRequest(RpcError):
    code = -32600


class MethodNotFound(RpcError):
    code = -32601


class InvalidParams(RpcError):
    code = -32602

    @property
    def errors(self) -> list[dict]:
        """``[{"field", "message"}]``: each bad field."""
        return list((self.data or {}).get("errors") or [])


class InternalError(RpcError):
    code = -32603


class PersonaNotFound(RpcError):
    code = -32001


class NoActivePersona(RpcError):
    code = -32002


class ConversationNotFound(RpcError):
    code = -32003


class MemoryNotFound(RpcError):
    code = -32004


class RoomNotFound(RpcError):
    code = -32005


class BotNotFound(RpcError):
    code = -32006


class LLMUnavailable(RpcError):
    code = -32010


class LLMTimeout(RpcError):
    code = -32011


class Unauthenticated(RpcError):
    code = -32020


class Forbidden(RpcError):
    code = -32021


class RateLimited(RpcError):
    code = -32029

    @property
    def retry_after(self) -> float | None:
        value = (self.data or {}).get("retry_after")
        return float(value) if value is not None else None


class Busy(RpcError):
    code = -32030


class Cancelled(RpcError):
    code = -32031


class Conflict(RpcError):
    code = -32040


ERRORS: dict[int, type[RpcError]] = {
    cls.code: cls
    for cls in (
        ParseError, InvalidRequest, MethodNotFound, InvalidParams, InternalError,
        PersonaNotFound, NoActivePersona, ConversationNotFound, MemoryNotFound, RoomNotFound,
        BotNotFound, LLMUnavailable, LLMTimeout, Unauthenticated, Forbidden, RateLimited, Busy,
        Cancelled, Conflict,
    )
}  # fmt: skip


def error_from(error: dict) -> RpcError:
    """The typed exception for a JSON-RPC ``error`` object (``RpcError`` for unknown codes)."""
    code = error.get("code")
    code = code if isinstance(code, int) else 0
    cls = ERRORS.get(code, RpcError)
    return cls(code, str(error.get("message") or "error"), error.get("data"))
