"""Model signals that write the audit log, whichever door or service made the change.

One mechanism for every audited model: ``pre_save`` reads the stored row (updates only),
``post_save`` / ``post_delete`` / ``m2m_changed`` write one ``AuditEntry`` in the same
transaction as the change (a rolled-back change leaves no row). Bulk ``QuerySet.update()``
calls (access counters, heartbeats, decay) send no signals and are not audited; they are
maintenance, logged and counted where they run.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import re
import uuid

from django.apps import apps
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from personamcp import actor as context

log = logging.getLogger(__name__)

# app_label.Model -> audited. Models of apps that are not installed are skipped.
AUDITED = (
    "personas.Persona",
    "memory.Memory",
    "personamcp.ApiKey",
    "bots.BotAccount",
    "lore.Lorebook",
    "lore.LoreEntry",
)
# Changes made by the server on its own (turns' after-work, decay, pruning) are not audited
# for these: they are the persona living, not someone changing it.
SYSTEM_QUIET = {"memory.Memory"}
# Deleted together with one of these (cascade): the parent's row records it.
CASCADE_PARENTS = ("personas.Persona", "lore.Lorebook")
SECRET = re.compile(r"password|token|secret|key_hash|pickle|private|credential", re.I)
SKIP_FIELDS = {"embedding", "updated_at", "last_used_at", "last_accessed_at", "access_count"}
MAX_TEXT = 2000
REDACTED = "[redacted]"


def _label(model) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def _json(value):
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if hasattr(value, "name") and hasattr(value, "storage"):  # FieldFile
        return value.name or None
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    return str(value)[:MAX_TEXT]


def _fields(model):
    return [
        f for f in model._meta.concrete_fields if f.name not in SKIP_FIELDS and not f.primary_key
    ]


def _snapshot(instance) -> dict:
    return {f.attname: f.value_from_object(instance) for f in _fields(type(instance))}


def _diff(before: dict, after: dict) -> dict:
    changes = {}
    for name in after.keys() | before.keys():
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if SECRET.search(name):
            changes[name] = [REDACTED if old else None, REDACTED if new else None]
        else:
            changes[name] = [_json(old), _json(new)]
    return changes


def _write(instance, action: str, changes: dict) -> None:
    entry = _entry(instance, action, changes)
    if entry is not None:
        entry.save()


def _entry(instance, action: str, changes: dict):
    """The unsaved ``AuditEntry`` of this change (None: not audited)."""
    from audit.models import AuditEntry
    from personamcp.logging import correlation_id

    label = _label(type(instance))
    actor = context.current()
    if label in SYSTEM_QUIET and actor.door in ("system", "task"):
        return None
    cid = correlation_id.get()
    cid = "" if cid == "-" else cid
    return AuditEntry(
        **actor.describe(),
        action=action,
        object_type=label,
        object_id=str(instance.pk)[:64],
        object_repr=str(instance)[:200],
        changes=changes,
        correlation_id=str(cid)[:32],
    )


def record_created(instances) -> None:
    """Audit objects created with ``bulk_create`` (which sends no ``post_save``): their
    entries are written in one INSERT."""
    from audit.models import AuditEntry

    entries = []
    for instance in instances:
        after = {k: v for k, v in _snapshot(instance).items() if v not in ("", None)}
        entries.append(_entry(instance, "create", _diff({}, after)))
    AuditEntry.objects.bulk_create([e for e in entries if e is not None])


def _pre_save(sender, instance, raw=False, **kwargs) -> None:
    if raw or instance._state.adding or instance.pk is None:
        instance._audit_before = None
        return
    names = [f.attname for f in _fields(sender)]
    instance._audit_before = sender._base_manager.filter(pk=instance.pk).values(*names).first()


def _post_save(sender, instance, created, raw=False, update_fields=None, **kwargs) -> None:
    if raw:
        return
    after = _snapshot(instance)
    before = getattr(instance, "_audit_before", None)
    if created or before is None:
        _write(
            instance, "create", _diff({}, {k: v for k, v in after.items() if v not in ("", None)})
        )
        return
    if update_fields is not None:
        after = {
            k: v
            for k, v in after.items()
            if k in update_fields or k.removesuffix("_id") in update_fields
        }
        before = {k: v for k, v in before.items() if k in after}
    changes = _diff(before, after)
    if changes:
        _write(instance, "update", changes)


def _post_delete(sender, instance, origin=None, **kwargs) -> None:
    if origin is not None and origin is not instance:
        parent = origin.model if hasattr(origin, "model") else type(origin)
        if _label(parent) in CASCADE_PARENTS and parent is not sender:
            return  # cascaded: the parent's own row records the deletion
    before = {k: v for k, v in _snapshot(instance).items() if v not in ("", None)}
    _write(instance, "delete", {k: [v[0], None] for k, v in _diff(before, {}).items()})


def _m2m_changed(sender, instance, action, model, pk_set, **kwargs) -> None:
    if (
        action not in ("post_add", "post_remove", "post_clear")
        or getattr(instance, "_meta", None) is None
    ):
        return
    if _label(type(instance)) not in AUDITED:
        return
    field = next(
        (f.name for f in instance._meta.many_to_many if f.remote_field.through is sender), "related"
    )
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    ids = sorted(str(pk) for pk in (pk_set or ()))
    _write(instance, "update", {field: {verb: ids}})


def connect() -> None:
    """Connect the receivers for every audited model that is installed."""
    for label in AUDITED:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        uid = f"audit:{label}"
        pre_save.connect(_pre_save, sender=model, dispatch_uid=f"{uid}:pre", weak=False)
        post_save.connect(_post_save, sender=model, dispatch_uid=f"{uid}:post", weak=False)
        post_delete.connect(_post_delete, sender=model, dispatch_uid=f"{uid}:del", weak=False)
        for field in model._meta.many_to_many:
            m2m_changed.connect(
                _m2m_changed,
                sender=field.remote_field.through,
                dispatch_uid=f"{uid}:m2m:{field.name}",
                weak=False,
            )
