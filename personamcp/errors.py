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

ERROR_TABLE: dict[type[exc.DomainError], tuple[int, int]] = {}


def register_error(code: int, http_status: int):
    """Class decorator: an exception gets its row in the one table.

    Each app declares its exceptions in ``<app>/exceptions.py``, the row in the class line
    (``DomainError.__init_subclass__`` calls this)::

        class RoomNotFound(NotFound, code=-32005, status=404, message="room not found"): ...

    The rule: one code, one class. A subclass that should answer with its parent's code does not
    register (lookup walks the MRO); registering a code another class already holds is an error
    at import time, so no code is ambiguous and the OpenRPC document lists each code once.
    Re-registering the same class (a module imported twice under autoreload) replaces its row.
    """

    def decorator(cls: type[exc.DomainError]) -> type[exc.DomainError]:
        for other, (other_code, _) in list(ERROR_TABLE.items()):
            same = other.__module__ == cls.__module__ and other.__qualname__ == cls.__qualname__
            if same:
                del ERROR_TABLE[other]
            elif other_code == code:
                raise ValueError(
                    f"JSON-RPC error code {code} already belongs to {other.__name__}; "
                    f"{cls.__name__} needs a code of its own"
                )
        ERROR_TABLE[cls] = (code, http_status)
        return cls

    return decorator


# The generic bases. The apps register their own exceptions (``<app>/exceptions.py``, imported
# for every app by ``personamcp``'s ``ready()``) so the table is complete before a request is
# served.
register_error(INVALID_PARAMS, 400)(exc.ValidationFailed)
register_error(-32007, 404)(exc.NotFound)
register_error(-32020, 401)(exc.Unauthenticated)
register_error(-32021, 403)(exc.Forbidden)
register_error(-32029, 429)(exc.RateLimited)
register_error(-32030, 409)(exc.Busy)
register_error(-32031, 409)(exc.Cancelled)
register_error(-32040, 409)(exc.Conflict)


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
