"""API key services."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from personamcp.exceptions import ValidationFailed
from personamcp.models import SCOPES, ApiKey, generate_key, hash_key


@transaction.atomic
def api_key_create(
    *,
    name: str,
    scope: str = "read",
    personas: list | None = None,
    expires_at: datetime | None = None,
    is_active: bool = True,
) -> tuple[ApiKey, str]:
    """Create a key; returns it and the raw key, which is never stored or shown again."""
    if scope not in SCOPES:
        raise ValidationFailed([{"field": "scope", "message": f"one of {', '.join(SCOPES)}"}])
    raw, prefix = generate_key()
    key = ApiKey.objects.create(
        name=name,
        scope=scope,
        prefix=prefix,
        key_hash=hash_key(raw),
        expires_at=expires_at,
        is_active=is_active,
    )
    if personas:
        key.personas.set(personas)
    return key, raw


def api_key_revoke(*, key: ApiKey) -> None:
    key.is_active = False
    key.save(update_fields=["is_active"])
