"""Lorebook file formats: a card's ``character_book`` and SillyTavern's World Info file.

Pure functions over dicts. The canonical shape is the ``character_book`` (V2/V3 spec); a World
Info file (``{"entries": {"<uid>": {"uid", "key", "keysecondary", "order", "disable", …}}}``)
is converted to and from it the way SillyTavern converts between the two: its extra options go
to the entry's ``extensions`` under snake_case names (``excludeRecursion`` →
``exclude_recursion``, ``position`` number kept as ``extensions.position``, …). World Info
fields with no place in a ``character_book`` ride along in ``_worldinfo`` so that a World Info
file comes back unchanged.
"""

from __future__ import annotations

from typing import Any

from lore.engine import (
    POSITION_NUMBERS,
    LoreError,
    ScanSettings,
    compile_entries,
    settings_from_book,
)

MAX_ENTRIES = 20_000
MAX_CONTENT_CHARS = 200_000
BOOK_FIELDS = ("name", "description", "scan_depth", "token_budget", "recursive_scanning")
# character_book entry fields (V2 + V3 ``use_regex``), other than keys/content/extensions.
ENTRY_OPTIONAL = (
    "id",
    "name",
    "comment",
    "priority",
    "selective",
    "secondary_keys",
    "constant",
    "position",
    "case_sensitive",
    "use_regex",
)
ENTRY_REQUIRED = ("keys", "content", "extensions", "enabled", "insertion_order")
ENTRY_FIELDS = (*ENTRY_REQUIRED, *ENTRY_OPTIONAL)
# World Info entry key -> character_book entry ``extensions`` key.
WI_EXTENSIONS = {
    "position": "position",
    "excludeRecursion": "exclude_recursion",
    "preventRecursion": "prevent_recursion",
    "delayUntilRecursion": "delay_until_recursion",
    "displayIndex": "display_index",
    "probability": "probability",
    "useProbability": "useProbability",
    "depth": "depth",
    "selectiveLogic": "selectiveLogic",
    "outletName": "outlet_name",
    "group": "group",
    "groupOverride": "group_override",
    "groupWeight": "group_weight",
    "scanDepth": "scan_depth",
    "caseSensitive": "case_sensitive",
    "matchWholeWords": "match_whole_words",
    "useGroupScoring": "use_group_scoring",
    "automationId": "automation_id",
    "role": "role",
    "vectorized": "vectorized",
    "sticky": "sticky",
    "cooldown": "cooldown",
    "delay": "delay",
    "matchPersonaDescription": "match_persona_description",
    "matchCharacterDescription": "match_character_description",
    "matchCharacterPersonality": "match_character_personality",
    "matchCharacterDepthPrompt": "match_character_depth_prompt",
    "matchScenario": "match_scenario",
    "matchCreatorNotes": "match_creator_notes",
    "triggers": "triggers",
    "ignoreBudget": "ignore_budget",
}
WI_TOP = {
    "uid": "id",
    "key": "keys",
    "keysecondary": "secondary_keys",
    "comment": "comment",
    "content": "content",
    "constant": "constant",
    "selective": "selective",
    "order": "insertion_order",
}
# What SillyTavern writes for a new entry; filled in when a book from a card has no value.
WI_DEFAULTS: dict[str, Any] = {
    "addMemo": True,
    "excludeRecursion": False,
    "preventRecursion": False,
    "delayUntilRecursion": False,
    "probability": 100,
    "useProbability": True,
    "depth": 4,
    "selectiveLogic": 0,
    "group": "",
    "groupOverride": False,
    "groupWeight": 100,
    "scanDepth": None,
    "caseSensitive": None,
    "matchWholeWords": None,
    "useGroupScoring": None,
    "automationId": "",
    "role": None,
    "vectorized": False,
    "sticky": 0,
    "cooldown": 0,
    "delay": 0,
}


def is_worldinfo(data: dict) -> bool:
    """A World Info file keys its entries by uid; a ``character_book`` lists them."""
    return isinstance(data.get("entries"), dict)


def book_from_worldinfo(data: dict) -> dict:
    """A World Info file as a ``character_book`` dict (``_worldinfo`` keeps the rest)."""
    entries_in = data.get("entries")
    if not isinstance(entries_in, dict):
        raise LoreError("data.entries", "must be an object keyed by uid")
    entries = []
    for key, raw in entries_in.items():
        if not isinstance(raw, dict):
            raise LoreError(f"data.entries.{key}", "must be an object")
        entry: dict[str, Any] = {"extensions": {}}
        rest: dict[str, Any] = {}
        for name, value in raw.items():
            if name in WI_TOP:
                entry[WI_TOP[name]] = value
            elif name == "disable":
                entry["enabled"] = not bool(value)
            elif name in WI_EXTENSIONS:
                entry["extensions"][WI_EXTENSIONS[name]] = value
            else:
                rest[name] = value
        if "position" in raw:
            entry["position"] = "before_char" if raw["position"] == 0 else "after_char"
        entry.setdefault("keys", [])
        entry.setdefault("content", "")
        entry.setdefault("enabled", True)
        entry.setdefault("insertion_order", 100)
        rest["_key"] = key
        entry["_worldinfo"] = rest
        entries.append(entry)
    book: dict[str, Any] = {"entries": entries, "extensions": {}}
    extra = {k: v for k, v in data.items() if k != "entries"}
    if extra:
        book["_worldinfo"] = extra
    return book


def worldinfo_from_book(book: dict) -> dict:
    """A ``character_book`` dict as a World Info file."""
    entries: dict[str, Any] = {}
    for index, entry in enumerate(book.get("entries") or []):
        rest = dict(entry.get("_worldinfo") or {})
        key = str(rest.pop("_key", entry.get("id", index)))
        out: dict[str, Any] = {}
        for wi_name, name in WI_TOP.items():
            if name in entry:
                out[wi_name] = entry[name]
        out.setdefault("uid", entry.get("id", index))
        out.setdefault("key", [])
        out.setdefault("keysecondary", [])
        out.setdefault("comment", entry.get("name") or "")
        out.setdefault("constant", False)
        out.setdefault("selective", True)
        ext = entry.get("extensions") or {}
        for wi_name, name in WI_EXTENSIONS.items():
            if name in ext:
                out[wi_name] = ext[name]
        if "position" not in out:
            out["position"] = POSITION_NUMBERS.get(entry.get("position") or "before_char", 0)
        out["disable"] = not entry.get("enabled", True)
        for name, value in WI_DEFAULTS.items():
            if name not in out and name not in rest:
                out[name] = value
        out.update(rest)
        entries[key] = out
    result: dict[str, Any] = {"entries": entries}
    result.update(book.get("_worldinfo") or {})
    return result


def _prefix_error(exc: LoreError, prefix: str) -> LoreError:
    return LoreError(f"{prefix}.{exc.field}" if prefix else exc.field, exc.message)


def validate_book(book: Any, *, prefix: str = "data") -> ScanSettings:
    """Check a ``character_book`` dict fully (shapes, regexes, bounds) before anything is
    stored; raises ``LoreError`` naming the field (``data.entries.2.keys.0``)."""
    if not isinstance(book, dict):
        raise LoreError(prefix, "must be an object")
    entries = book.get("entries")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise LoreError(f"{prefix}.entries", "must be a list")
    if len(entries) > MAX_ENTRIES:
        raise LoreError(f"{prefix}.entries", f"more than {MAX_ENTRIES} entries")
    for field in ("name", "description"):
        if book.get(field) is not None and not isinstance(book[field], str):
            raise LoreError(f"{prefix}.{field}", "must be a string")
    if book.get("recursive_scanning") is not None and not isinstance(
        book["recursive_scanning"], bool
    ):
        raise LoreError(f"{prefix}.recursive_scanning", "must be true or false")
    try:
        settings = settings_from_book(book)
        for index, entry in enumerate(entries):
            if isinstance(entry, dict):
                content = entry.get("content")
                if isinstance(content, str) and len(content) > MAX_CONTENT_CHARS:
                    raise LoreError(
                        f"entries.{index}.content", f"longer than {MAX_CONTENT_CHARS} characters"
                    )
                for name in ("enabled", "constant", "selective", "case_sensitive", "use_regex"):
                    value = entry.get(name)
                    if value is not None and not isinstance(value, bool):
                        raise LoreError(f"entries.{index}.{name}", "must be true or false")
                position = entry.get("position")
                if position is not None and position not in POSITION_NUMBERS:
                    raise LoreError(
                        f"entries.{index}.position", "must be before_char or after_char"
                    )
                for name in ("name", "comment"):
                    if entry.get(name) is not None and not isinstance(entry[name], str):
                        raise LoreError(f"entries.{index}.{name}", "must be a string")
        compile_entries(entries, settings=settings)
    except LoreError as exc:
        raise _prefix_error(exc, prefix) from None
    return settings
