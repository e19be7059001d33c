"""Input and output shapes of memory operations, shared by the REST API and JSON-RPC."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.conf import settings
from pydantic import Field, StringConstraints, field_validator

from personamcp.schemas import OptionalStrId, Out, Params, StrId, Unit, rounded

PersonaRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Kind = Literal["episodic", "fact", "reflection"]
Visibility = Literal["private", "shared", "public"]
MAX_CHARS = settings.MEMORY["MAX_CONTENT_CHARS"]


class MemoryStoreParams(Params):
    content: Annotated[str, StringConstraints(max_length=MAX_CHARS)]
    persona_id: PersonaRef | None = None
    kind: Kind = "episodic"
    importance: Unit | None = None
    visibility: Visibility = "private"
    about: Annotated[str, StringConstraints(max_length=255)] = ""
    metadata: dict | None = None

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class Weights(Params):
    relevance: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    recency: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    importance: Annotated[float, Field(ge=0.0, le=100.0)] | None = None


class MemorySearchParams(Params):
    query: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CHARS)]
    persona_id: PersonaRef | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    kinds: list[Kind] | None = None
    min_importance: Unit | None = None
    include_shared: bool = False
    about: Annotated[str, StringConstraints(max_length=255)] | None = None
    weights: Weights | None = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class MemoryIdParams(Params):
    memory_id: Annotated[int, Field(ge=1)]


class MemoryListParams(Params):
    persona_id: PersonaRef | None = None
    kind: Kind | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, StringConstraints(max_length=40)] | None = None


class PersonaOptionalParams(Params):
    persona_id: PersonaRef | None = None


class MemoryOut(Out):
    """PROTOCOL's Memory object (plus ``superseded``): ``MemoryOut.dump(memory)``."""

    id: int
    persona_id: StrId
    content: str
    kind: Kind
    importance: rounded(4)
    visibility: Visibility
    about: str
    source_persona_id: OptionalStrId
    created_at: datetime
    last_accessed_at: datetime
    access_count: int
    metadata: dict
    superseded: bool


class ScoreTerms(Out):
    relevance: rounded(6)
    recency: rounded(6)
    importance: rounded(6)


class ScoredMemoryOut(MemoryOut):
    """A Memory plus its ``score`` and the three terms (from a ``selectors.ScoredMemory``)."""

    score: rounded(6)
    scores: ScoreTerms


class MemorySearchOut(Out):
    memories: list[ScoredMemoryOut]


class MemoryListOut(Out):
    memories: list[MemoryOut]
    next_cursor: str | None


class MemoryStatsOut(Out):
    total: int
    by_kind: dict[str, int]
    by_visibility: dict[str, int]
    avg_importance: rounded(4) | None
    oldest: datetime | None
    newest: datetime | None
    superseded: int


class MemoryReflectOut(Out):
    reflections: list[MemoryOut]
    queued: bool


class MemoryDeletedOut(Out):
    deleted: bool
    memory_id: int
