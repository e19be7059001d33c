"""Pydantic helpers shared by the apps' ``schemas.py`` modules.

Input models are strict about unknown fields (typos must be visible) and are the single
validator used by both front doors: the JSON-RPC registry and the DRF views.

Output models (``*Out``) are the single shape of each object: ``Out.dump(obj)`` turns a model
instance (read by attribute) or a dict into the JSON of both doors, and the same class is the
result schema of the OpenRPC document and the response schema of the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic import ValidationError as PydanticValidationError

from personamcp.exceptions import ValidationFailed


class Params(BaseModel):
    """Base for every input model: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Out(BaseModel):
    """Base for result models: the one definition of an object's output shape."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def dump(cls, obj: Any) -> dict:
        """``obj`` (read by attribute, or a dict) in this shape, as JSON-ready data."""
        return cls.model_validate(obj).model_dump(mode="json")


class NoParams(Params):
    pass


# Common field types
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
SignedUnit = Annotated[float, Field(ge=-1.0, le=1.0)]
ShortStr = Annotated[str, StringConstraints(max_length=200)]
Limit = Annotated[int, Field(ge=1, le=200)]
# The opaque ``cursor`` of a paged list (personamcp.pagination); ``next_cursor`` of the last page.
Cursor = Annotated[str, StringConstraints(max_length=400)]
# Output types: primary keys (UUIDs, ints) are strings on the wire; scores are rounded.
StrId = Annotated[str, BeforeValidator(str)]
OptionalStrId = Annotated[str | None, BeforeValidator(lambda v: None if v is None else str(v))]


def rounded(digits: int):
    """A float rounded to ``digits`` decimals in the output."""
    return Annotated[float, AfterValidator(lambda v: round(v, digits))]


def pydantic_errors(exc: PydanticValidationError) -> list[dict[str, str]]:
    """Turn a pydantic error into ``[{field, message}]`` with dotted field paths."""
    errors = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "params"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append({"field": field, "message": message})
    return errors


def nul_fields(data: Any) -> list[str]:
    """Dotted paths of the strings (values or keys) in ``data`` holding a NUL character."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", data)]  # no recursion: nesting depth is the client's
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                found.append(path or "params")
        elif isinstance(value, dict):
            for key, inner in value.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and "\x00" in key:
                    found.append(where)
                stack.append((where, inner))
        elif isinstance(value, list | tuple):
            stack += ((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(value))
    return sorted(found)


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    """Validate ``data`` against ``model``; raise ``ValidationFailed`` naming each bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "params", "message": "must be an object"}])
    if nul := nul_fields(data):  # PostgreSQL text and jsonb cannot hold it: refused everywhere
        raise ValidationFailed(
            [{"field": f, "message": "must not contain a NUL character (\\u0000)"} for f in nul]
        )
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationFailed(pydantic_errors(exc)) from None


def iso(value) -> str | None:
    """ISO 8601 UTC with a ``Z`` suffix (the wire format of every timestamp)."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")
