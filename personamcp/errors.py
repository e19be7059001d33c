"""The one table that translates domain exceptions at the edges.

Each row: exception class -> (JSON-RPC error code, HTTP status). Lookup walks the exception's
MRO, so app-specific subclasses inherit their parent's row.
"""

from __future__ import annotations

from personamcp import exceptions as exc

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

ERROR_TABLE: dict[type[exc.DomainError], tuple[int, int]] = {
    exc.ValidationFailed: (INVALID_PARAMS, 400),
    exc.PersonaNotFound: (-32001, 404),
    exc.NoActivePersona: (-32002, 400),
    exc.ConversationNotFound: (-32003, 404),
    exc.MemoryNotFound: (-32004, 404),
    exc.RoomNotFound: (-32005, 404),
    exc.BotNotFound: (-32006, 404),
    exc.NotFound: (-32004, 404),
    exc.LLMUnavailable: (-32010, 503),
    exc.LLMTimeout: (-32011, 504),
    exc.Unauthenticated: (-32020, 401),
    exc.Forbidden: (-32021, 403),
    exc.RateLimited: (-32029, 429),
    exc.Busy: (-32030, 409),
    exc.Cancelled: (-32031, 409),
    exc.Conflict: (-32040, 409),
}


def register_error(code: int, http_status: int):
    """Class decorator: an app's exception gets its row in the one table.

    Each app declares its exceptions in ``<app>/exceptions.py``::

        @register_error(-32005, 404)
        class RoomNotFound(NotFound):
            default_message = "room not found"

    A code belongs to one exception family: registering a code already used by an unrelated
    class is an error at import time, so the OpenRPC document never lists a code twice.
    """

    def decorator(cls: type[exc.DomainError]) -> type[exc.DomainError]:
        for other, (other_code, _) in ERROR_TABLE.items():
            if other_code == code and other is not cls and not issubclass(cls, other):
                raise ValueError(f"JSON-RPC error code {code} already belongs to {other.__name__}")
        ERROR_TABLE[cls] = (code, http_status)
        return cls

    return decorator


def lookup(error: exc.DomainError) -> tuple[int, int]:
    """(rpc_code, http_status) for a domain exception."""
    for cls in type(error).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return INTERNAL_ERROR, 500


def error_body(error: exc.DomainError) -> dict:
    """The JSON-RPC ``error`` object of a domain exception (also the REST error body)."""
    code, _ = lookup(error)
    body: dict = {"code": code, "message": error.message}
    if error.data:
        body["data"] = error.data
    return body
