"""Input and output shapes of memory operations, shared by the REST API and JSON-RPC."""

from __future__ import annotations

from typing import Annotated, Literal

from django.conf import settings
from pydantic import Field, StringConstraints, field_validator

from personamcp.schemas import Out, Params, Unit

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
    id: int
    persona_id: str
    content: str
    kind: Kind
    importance: float
    visibility: Visibility
    about: str
    source_persona_id: str | None
    created_at: str
    last_accessed_at: str
    access_count: int
    metadata: dict
    superseded: bool


class ScoreTerms(Out):
    relevance: float
    recency: float
    importance: float


class ScoredMemoryOut(MemoryOut):
    score: float
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
    avg_importance: float | None
    oldest: str | None
    newest: str | None
    superseded: int


class MemoryReflectOut(Out):
    reflections: list[MemoryOut]
    queued: bool


class MemoryDeletedOut(Out):
    deleted: bool
    memory_id: int
