"""Input and output shapes of conversations, shared by the REST API and the JSON-RPC methods."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from goals.schemas import TriggerFiredOut
from personamcp.schemas import Out, Params
from personas.schemas import PersonaRef

ParticipantStr = Annotated[str, StringConstraints(min_length=1, max_length=255)]
ConversationRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SendMessageParams(Params):
    """``conversation.send_message`` / ``POST /api/conversations/messages/``."""

    content: Annotated[str, StringConstraints(min_length=1)]
    persona_id: PersonaRef | None = None
    sender: ParticipantStr | None = None
    sender_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    conversation_id: ConversationRef | None = None
    context: dict[str, Any] | None = None
    stream: bool = False
    # a new conversation's first turn: 0 the card's first_mes, n its n-th alternate greeting
    greeting_index: Annotated[int, Field(ge=0, le=1000)] | None = None


class MemoryUsedOut(Out):
    id: str
    score: float


class UsageOut(Out):
    prompt_tokens: int
    completion_tokens: int


class TimingOut(Out):
    total_ms: float
    llm_ms: float
    retrieval_ms: float
    embedding_ms: float = 0.0
    prompt_ms: float = 0.0
    persistence_ms: float = 0.0
    lore_ms: float = 0.0
    first_chunk_ms: float | None = None
    triggers_ms: float = 0.0  # trigger conditions and intents (goals)
    lore_ms: float = 0.0  # lorebook scanning and macros (part of prompt_ms)


class LoreUsedOut(Out):
    lorebook_id: str
    entry_id: int
    keys_matched: list[str]


class SendMessageOut(Out):
    response: str
    conversation_id: str
    message_id: int
    persona_id: str
    emotion: str
    memories_used: list[MemoryUsedOut]
    lore_used: list[LoreUsedOut]
    triggers_fired: list[TriggerFiredOut]
    usage: UsageOut
    timing: TimingOut


class CancelParams(Params):
    request_id: int | str


class CancelOut(Out):
    cancelled: bool


class HistoryParams(Params):
    conversation_id: ConversationRef
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    before: int | None = None


class MessageOut(Out):
    id: int
    role: str
    speaker: str
    content: str
    status: str
    created_at: datetime


class HistoryOut(Out):
    conversation_id: str
    messages: list[MessageOut]


class ListParams(Params):
    persona_id: PersonaRef | None = None
    participant: ParticipantStr | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class ConversationOut(Out):
    id: str
    persona_id: str
    persona_slug: str
    participant: str
    participant_name: str
    platform: str
    started_at: datetime
    last_message_at: datetime | None
    ended_at: datetime | None
    message_count: int
    summary: str


class ListOut(Out):
    conversations: list[ConversationOut]


class EndParams(Params):
    conversation_id: ConversationRef


class EndOut(Out):
    ended: bool
    summary: str | None = None
