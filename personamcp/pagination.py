"""One keyset pagination for every list, RPC and REST alike.

The cursor is opaque to clients: URL-safe base64 of ``[order value, id]`` of the last item of
the page. Ordering is ``(order field, id)`` in one direction, so pages never skip or repeat
rows, whatever is inserted meanwhile. Filters (search, a restricted key's personas, …) are
applied to the queryset *before* it is paged, so a page is never short while more rows follow.

    items, next_cursor = paginate(qs, order="name", limit=params.limit, cursor=params.cursor)

The order field must not be null; a nullable one is ordered through a non-null annotation
(``qs.annotate(active_at=Coalesce("last_message_at", "started_at"))``, ``order="-active_at"``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Field, Model, Q, QuerySet

from personamcp.exceptions import ValidationFailed


def _invalid() -> ValidationFailed:
    return ValidationFailed([{"field": "cursor", "message": "invalid cursor"}])


def _field_value(obj: Model, name: str) -> Any:
    value = getattr(obj, name)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def encode_cursor(obj: Model, field: str) -> str:
    raw = json.dumps([_field_value(obj, field), str(obj.pk)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _order_field(queryset: QuerySet, name: str) -> Field:
    """The model field ordering the pages, or the output field of the annotation ``name``."""
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        return annotation.output_field
    return queryset.model._meta.get_field(name)


def decode_cursor(queryset: QuerySet, field: str, cursor: str) -> tuple[Any, Any]:
    """``(order value, pk)`` of a cursor, parsed by the queryset's own field types."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if value is None:  # order fields are never null: not a cursor of ours
            raise ValueError(cursor)
        value = _order_field(queryset, field).to_python(value)
        return value, queryset.model._meta.pk.to_python(pk)
    except (ValueError, TypeError, ValidationError, json.JSONDecodeError):
        raise _invalid() from None


def paginate(
    queryset: QuerySet, *, order: str, limit: int, cursor: str | None = None
) -> tuple[list, str | None]:
    """One page of ``queryset`` ordered by ``order`` (``"name"`` or ``"-created_at"``) then pk.

    Returns ``(items, next_cursor)``; ``next_cursor`` is ``None`` on the last page.
    """
    descending = order.startswith("-")
    field = order.lstrip("-")
    pk = queryset.model._meta.pk.name
    if cursor:
        value, last_pk = decode_cursor(queryset, field, cursor)
        op = "lt" if descending else "gt"
        queryset = queryset.filter(
            Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"{pk}__{op}": last_pk})
        )
    sign = "-" if descending else ""
    page = list(queryset.order_by(f"{sign}{field}", f"{sign}{pk}")[: limit + 1])
    next_cursor = encode_cursor(page[limit - 1], field) if len(page) > limit else None
    return page[:limit], next_cursor
