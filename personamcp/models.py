"""API keys: only a hash and a visible prefix are stored; the key is shown once at creation."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone

SCOPES = ("read", "write", "admin")
# A scope includes the ones before it: admin > write > read.
_RANK = {name: i for i, name in enumerate(SCOPES)}
KEY_PREFIX = "pmcp_"


def hash_key(raw: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 is sufficient and keeps lookups O(1).
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key() -> tuple[str, str]:
    """A new raw key and its visible prefix."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


class ApiKey(models.Model):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(
        max_length=8,
        choices=[(s, s) for s in SCOPES],
        default="read",
        help_text="read: look only; write: also change personas, memories, talk; admin: also bots.",
    )
    personas = models.ManyToManyField(
        "personas.Persona",
        blank=True,
        related_name="api_keys",
        help_text="Limit the key to these personas. Empty: every persona.",
    )
    is_active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({KEY_PREFIX}{self.prefix}_…)"

    def allows(self, scope: str) -> bool:
        return _RANK[self.scope] >= _RANK[scope]

    @property
    def usable(self) -> bool:
        return self.is_active and (self.expires_at is None or self.expires_at > timezone.now())
