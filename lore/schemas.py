"""Input and output shapes of lorebooks, shared by the REST API and the JSON-RPC methods."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from personamcp.schemas import Limit, Out, Params
from personas.schemas import PersonaRef

LorebookRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Entries = Annotated[list[dict[str, Any]], Field(max_length=20_000)]


class LorebookFields(Params):
    description: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    scan_depth: Annotated[int, Field(ge=0, le=1000)] | None = None
    token_budget: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    recursive_scanning: bool | None = None
    extensions: dict[str, Any] | None = None


class LorebookCreate(LorebookFields):
    """A new lorebook; entries use the Character Card V2/V3 ``character_book`` entry fields."""

    name: Name
    entries: Entries = []


class LorebookPatch(LorebookFields):
    name: Name | None = None
    entries: Entries | None = None


class LorebookUpdateParams(LorebookPatch):
    lorebook_id: LorebookRef


class LorebookIdParams(Params):
    lorebook_id: LorebookRef


class LorebookListParams(Params):
    persona_id: PersonaRef | None = None
    room_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    limit: Limit = 50
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None


class LorebookAttachParams(Params):
    lorebook_id: LorebookRef
    persona_id: PersonaRef | None = None
    room_id: Annotated[str, StringConstraints(max_length=64)] | None = None


class LorebookImportParams(Params):
    """A SillyTavern World Info file (``entries`` keyed by uid) or a card's ``character_book``."""

    data: dict[str, Any]
    name: Name | None = None


class LorebookExportParams(Params):
    lorebook_id: LorebookRef
    format: Literal["worldinfo", "character_book"] = "worldinfo"


class LorebookOut(Out):
    id: str
    name: str
    description: str
    scan_depth: int | None
    token_budget: int | None
    recursive_scanning: bool | None
    extensions: dict[str, Any]
    entries: list[dict[str, Any]]
    owner_persona_id: str | None
    persona_ids: list[str]
    room_ids: list[str]
    created_at: str
    updated_at: str


class LorebookListOut(Out):
    lorebooks: list[LorebookOut]
    next_cursor: str | None


class LorebookDeletedOut(Out):
    deleted: bool


class LorebookExportOut(Out):
    data: dict[str, Any]
