"""Read helpers shared by the apps' selectors."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet

from personamcp.exceptions import NotFound


def one_or_not_found(queryset: QuerySet, pk: Any, error: type[NotFound], noun: str) -> Model:
    """The row of ``queryset`` with primary key ``pk`` (parsed by the model's own key field);
    a key that cannot be one, or no such row, raises ``error("<noun> not found: <pk>")``."""
    try:
        key = queryset.model._meta.pk.to_python(pk)
    except ValidationError:
        raise error(f"{noun} not found: {pk}") from None
    found = queryset.filter(pk=key).first()
    if found is None:
        raise error(f"{noun} not found: {pk}")
    return found
