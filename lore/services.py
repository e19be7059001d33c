"""Write-side operations on lorebooks, and the per-turn selection. Every front door calls these.

Writes validate the whole book (shapes, regexes, bounds) before anything is stored and run in
one transaction: a bad entry leaves nothing half-imported.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from lore import formats
from lore.engine import (
    CompiledEntry,
    LoreError,
    ScanMessage,
    ScanSettings,
    Selection,
    compile_entries,
    select_entries,
    settings_from_book,
)
from lore.models import Lorebook, LorebookRoom, LoreEntry
from personamcp.exceptions import ValidationFailed
from personas.models import Persona


def _failed(exc: LoreError) -> ValidationFailed:
    return ValidationFailed([{"field": exc.field, "message": exc.message}])


def _check(book: dict, prefix: str) -> None:
    try:
        formats.validate_book(book, prefix=prefix)
    except LoreError as exc:
        raise _failed(exc) from None


def _entry_row(lorebook: Lorebook, entry: dict, sort: int) -> LoreEntry:
    extra = {k: v for k, v in entry.items() if k not in formats.ENTRY_FIELDS and k != "entry_id"}
    values = {name: entry.get(name) for name in formats.ENTRY_OPTIONAL if name != "id"}
    return LoreEntry(
        lorebook=lorebook,
        uid=entry.get("id") if isinstance(entry.get("id"), int) else None,
        keys=list(entry.get("keys") or []),
        content=entry.get("content") or "",
        extensions=dict(entry.get("extensions") or {}),
        enabled=bool(entry.get("enabled", True)),
        insertion_order=int(entry.get("insertion_order", 100) or 0),
        extra=extra
        | ({"_id": entry["id"]} if "id" in entry and not isinstance(entry["id"], int) else {}),
        sort=sort,
        **values,
    )


def _book_columns(book: dict) -> dict:
    return {
        "description": book.get("description") or "",
        "scan_depth": book.get("scan_depth"),
        "token_budget": book.get("token_budget"),
        "recursive_scanning": book.get("recursive_scanning"),
        "extensions": dict(book.get("extensions") or {}),
    }


def _book_extra(book: dict) -> dict:
    extra = {
        k: v for k, v in book.items() if k not in (*formats.BOOK_FIELDS, "entries", "extensions")
    }
    omitted = [f for f in formats.BOOK_FIELDS if f not in book]
    if omitted:
        extra["_omit"] = omitted
    return extra


@transaction.atomic
def lorebook_create(
    *, book: dict, name: str | None = None, owner: Persona | None = None, prefix: str = "entries"
) -> Lorebook:
    """Store a ``character_book``-shaped dict as a lorebook (validated first, all or nothing)."""
    _check(book, prefix="" if prefix == "entries" else prefix)
    final_name = (name or book.get("name") or "Lorebook")[:200]
    extra = _book_extra(book)
    if "name" not in book:
        extra["_name_given"] = final_name  # not part of the book: not exported while unchanged
    lorebook = Lorebook.objects.create(
        name=final_name,
        owner=owner,
        extra=extra,
        **_book_columns(book),
    )
    LoreEntry.objects.bulk_create(
        [_entry_row(lorebook, e, i) for i, e in enumerate(book.get("entries") or [])]
    )
    return lorebook


@transaction.atomic
def lorebook_update(*, lorebook: Lorebook, changes: dict) -> Lorebook:
    """Change some fields; ``entries`` (when given) replaces every entry."""
    current = lorebook_to_book(lorebook)
    merged = {**current, **changes}
    _check(merged, prefix="")
    if changes.get("name"):
        lorebook.name = changes["name"][:200]
    for field, value in _book_columns(merged).items():
        if field in changes:
            setattr(lorebook, field, value)
    omitted = [f for f in (lorebook.extra or {}).get("_omit", []) if f not in changes]
    lorebook.extra = {**(lorebook.extra or {}), "_omit": omitted}
    if not omitted:
        lorebook.extra.pop("_omit")
    lorebook.save()
    if "entries" in changes:
        lorebook.entries.all().delete()
        LoreEntry.objects.bulk_create(
            [_entry_row(lorebook, e, i) for i, e in enumerate(changes["entries"] or [])]
        )
    _forget(lorebook.pk)
    return lorebook


def lorebook_delete(*, lorebook: Lorebook) -> str:
    lorebook_id = str(lorebook.pk)
    lorebook.delete()
    _forget(lorebook_id)
    return lorebook_id


def _rooms_app() -> str:
    """Rooms live in ``rooms`` once they moved out of ``conversations``."""
    from django.apps import apps

    return "rooms" if apps.is_installed("rooms") else "conversations"


def _room_exists(room_id: str) -> bool:
    from django.apps import apps

    return apps.get_model(_rooms_app(), "Room").objects.filter(pk=room_id).exists()


def _valid_room_id(room_id: str) -> str:
    import uuid

    try:
        value = str(uuid.UUID(str(room_id)))
    except ValueError:
        raise ValidationFailed([{"field": "room_id", "message": "not a room id"}]) from None
    if not _room_exists(value):
        import importlib

        room_not_found = importlib.import_module(f"{_rooms_app()}.exceptions").RoomNotFound
        raise room_not_found(f"room not found: {room_id}")
    return value


@transaction.atomic
def lorebook_attach(
    *, lorebook: Lorebook, persona: Persona | None = None, room_id: str | None = None
) -> Lorebook:
    """Attach a lorebook to a persona (it scans it in every turn) or to a room."""
    if (persona is None) == (room_id is None):
        raise ValidationFailed([{"field": "persona_id", "message": "give persona_id or room_id"}])
    if persona is not None:
        lorebook.personas.add(persona)
    else:
        LorebookRoom.objects.get_or_create(lorebook=lorebook, room_id=_valid_room_id(room_id))
    return lorebook


@transaction.atomic
def lorebook_detach(
    *, lorebook: Lorebook, persona: Persona | None = None, room_id: str | None = None
) -> Lorebook:
    if (persona is None) == (room_id is None):
        raise ValidationFailed([{"field": "persona_id", "message": "give persona_id or room_id"}])
    if persona is not None:
        lorebook.personas.remove(persona)
        if lorebook.owner_id == persona.id:
            lorebook.owner = None
            lorebook.save(update_fields=["owner", "updated_at"])
    else:
        LorebookRoom.objects.filter(lorebook=lorebook, room_id=room_id).delete()
    return lorebook


def lorebook_import(*, data: Any, name: str | None = None) -> Lorebook:
    """A SillyTavern World Info file or a card's ``character_book`` as a new lorebook."""
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "data", "message": "must be an object"}])
    try:
        book = formats.book_from_worldinfo(data) if formats.is_worldinfo(data) else data
    except LoreError as exc:
        raise _failed(exc) from None
    fallback = name or (data.get("name") if isinstance(data.get("name"), str) else None)
    return lorebook_create(book=book, name=fallback or "World Info", prefix="data")


def lorebook_to_book(lorebook: Lorebook, *, spec: str = "v2", keep_private: bool = True) -> dict:
    """The lorebook as a ``character_book`` dict, exactly as it was imported (absent optional
    fields stay absent). ``spec="v3"`` fills the fields V3 requires (``use_regex``)."""
    extra = dict(lorebook.extra or {})
    omitted = set(extra.pop("_omit", []))
    worldinfo = extra.pop("_worldinfo", None)
    if lorebook.name == extra.pop("_name_given", None):
        omitted.add("name")
    else:
        omitted.discard("name")
    book: dict[str, Any] = {}
    for field in formats.BOOK_FIELDS:
        value = lorebook.name if field == "name" else getattr(lorebook, field)
        if field in omitted and (field == "name" or value is None or value == ""):
            continue
        if value is None:
            continue
        book[field] = value
    # Always present: the spec requires it and SillyTavern's validator refuses a book without.
    book["extensions"] = dict(lorebook.extensions or {})
    book.update(extra)
    book["entries"] = [
        entry_to_dict(e, spec=spec, keep_private=keep_private) for e in _entries(lorebook)
    ]
    if keep_private and worldinfo:
        book["_worldinfo"] = worldinfo
    return book


def _entries(lorebook: Lorebook) -> Iterable[LoreEntry]:
    cache = getattr(lorebook, "_prefetched_objects_cache", {})
    if "entries" in cache:
        return cache["entries"]
    return lorebook.entries.all()


def entry_to_dict(entry: LoreEntry, *, spec: str = "v2", keep_private: bool = True) -> dict:
    extra = dict(entry.extra or {})
    private = {k: extra.pop(k) for k in list(extra) if k.startswith("_")}
    out: dict[str, Any] = {
        "keys": list(entry.keys or []),
        "content": entry.content,
        "extensions": dict(entry.extensions or {}),
        "enabled": entry.enabled,
        "insertion_order": entry.insertion_order,
    }
    if entry.uid is not None:
        out["id"] = entry.uid
    elif "_id" in private:
        out["id"] = private["_id"]
    for name in formats.ENTRY_OPTIONAL:
        if name == "id":
            continue
        value = getattr(entry, name)
        if value is not None:
            out[name] = value
    if spec == "v3" and out.get("use_regex") is None:
        out["use_regex"] = False
    out.update(extra)
    if keep_private and "_worldinfo" in private:
        out["_worldinfo"] = private["_worldinfo"]
    return out


def lorebook_export(*, lorebook: Lorebook, fmt: str = "worldinfo") -> dict:
    """``worldinfo`` (a SillyTavern World Info file) or ``character_book``."""
    if fmt == "character_book":
        return lorebook_to_book(lorebook, keep_private=False)
    return formats.worldinfo_from_book(lorebook_to_book(lorebook, keep_private=True))


# --- per-turn selection ------------------------------------------------------------------

_compiled: dict[str, tuple[Any, ScanSettings, list[CompiledEntry]]] = {}
_compiled_lock = threading.Lock()


def _forget(lorebook_id: Any) -> None:
    with _compiled_lock:
        _compiled.pop(str(lorebook_id), None)


def compiled_book(lorebook: Lorebook) -> tuple[ScanSettings, list[CompiledEntry]]:
    """The book's settings and compiled entries, cached until the book changes."""
    key = str(lorebook.pk)
    stamp = lorebook.updated_at
    with _compiled_lock:
        found = _compiled.get(key)
    if found is not None and found[0] == stamp:
        return found[1], found[2]
    book = lorebook_to_book(lorebook, keep_private=False)
    settings = settings_from_book(book)
    entries = [e for e in lorebook.entries.all()]
    compiled = compile_entries(
        [entry_to_dict(e, keep_private=False) for e in entries],
        lorebook_id=key,
        settings=settings,
    )
    for row, item in zip(entries, compiled, strict=True):
        item.id = row.pk
    with _compiled_lock:
        _compiled[key] = (stamp, settings, compiled)
    return settings, compiled


def lorebooks_for(*, persona: Persona, room_id: str | None = None) -> list[Lorebook]:
    """The books a persona scans: its own, the ones attached to it, the room's."""
    from django.db.models import Q

    query = Q(owner=persona) | Q(personas=persona)
    if room_id:
        query |= Q(room_links__room_id=room_id)
    return list(Lorebook.objects.filter(query).distinct().order_by("created_at", "id"))


def lore_select(
    *,
    books: Sequence[Lorebook],
    messages: Sequence[ScanMessage],
    rng: random.Random | None = None,
) -> Selection:
    """Run every book's scan and merge the results (each book keeps its own budget)."""
    activated, dropped = [], []
    steps, capped, tokens = 0, False, 0
    for lorebook in books:
        settings, compiled = compiled_book(lorebook)
        found = select_entries(compiled, messages, settings, rng=rng)
        activated.extend(found.activated)
        dropped.extend(found.dropped)
        steps = max(steps, found.recursion_steps)
        capped = capped or found.recursion_capped
        tokens += found.tokens
    activated.sort(key=lambda a: a.entry.insertion_order)
    return Selection(activated, dropped, steps, capped, tokens)


def lorebook_test(*, lorebook: Lorebook, text: str, history: Sequence[str] = ()) -> dict:
    """Which entries fire for ``text`` (after ``history``) and why: the admin's test box."""
    messages = [ScanMessage("", line) for line in [*history, text]]
    selection = lore_select(books=[lorebook], messages=messages)
    return {
        "activated": [a.as_dict() for a in selection.activated],
        "dropped": [a.as_dict() for a in selection.dropped],
        "recursion_steps": selection.recursion_steps,
        "recursion_capped": selection.recursion_capped,
        "tokens": selection.tokens,
    }
