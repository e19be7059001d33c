"""The audit log: one row per change of an audited object. Rows are written, never changed."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

DOORS = ("admin", "rest", "rpc", "mcp-http", "openai", "web", "shell", "command", "task", "system")
ACTIONS = ("create", "update", "delete")


class AuditImmutable(Exception):
    """Raised on any attempt to change or delete an audit row through the ORM."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditImmutable("audit entries are never changed")

    def delete(self):
        raise AuditImmutable("audit entries are never deleted")

    def bulk_update(self, *args, **kwargs):
        raise AuditImmutable("audit entries are never changed")


class AuditEntry(models.Model):
    """Who (a user or an API key) did what to which object, through which door.

    ``user_id`` and ``api_key_id`` are plain numbers, not foreign keys: the row must outlive
    the user or key it names. ``changes`` maps each changed field to ``[before, after]``
    (``before`` is null on create, ``after`` on delete); secret fields only say that they
    changed (``"[redacted]"``), never their values.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    door = models.CharField(max_length=16, choices=[(d, d) for d in DOORS], editable=False)
    actor_kind = models.CharField(max_length=16, editable=False)  # user, key, anonymous, system
    actor = models.CharField(max_length=200, editable=False)
    user_id = models.IntegerField(null=True, blank=True, editable=False)
    api_key_id = models.IntegerField(null=True, blank=True, editable=False)
    action = models.CharField(max_length=8, choices=[(a, a) for a in ACTIONS], editable=False)
    object_type = models.CharField(max_length=100, editable=False)  # app_label.model
    object_id = models.CharField(max_length=64, editable=False)
    object_repr = models.CharField(max_length=200, editable=False)
    changes = models.JSONField(default=dict, blank=True, editable=False)
    correlation_id = models.CharField(max_length=32, blank=True, editable=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type} {self.object_repr}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditImmutable("audit entries are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutable("audit entries are never deleted")
