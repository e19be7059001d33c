"""Input and output shapes of conversations, shared by the REST API and the JSON-RPC methods."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, AliasPath, Field, StringConstraints

from goals.schemas import TriggerFiredOut
from personamcp.schemas import Cursor, Out, Params, StrId
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
    # v1.1: actions the persona may take (checked by llm.actions.validate_definitions)
    actions_available: list[dict[str, Any]] | None = None


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
    triggers_ms: float = 0.0  # trigger conditions and intents (goals)
    appraisal_ms: float = 0.0  # the message's appraisal, for the expression
    lore_ms: float = 0.0  # lorebook scanning and macros (part of prompt_ms)
    first_chunk_ms: float | None = None


class LoreUsedOut(Out):
    lorebook_id: str
    entry_id: int
    keys_matched: list[str]


class ActionOut(Out):
    """An action the persona chose: one that was offered, arguments valid against its schema."""

    name: str
    arguments: dict[str, Any]


class ExpressionOut(Out):
    """What the persona shows (for a game's animation and facial expression)."""

    emotion: str
    intensity: Annotated[float, Field(ge=0.0, le=1.0)]
    gesture: str | None = None


class SendMessageOut(Out):
    response: str
    conversation_id: str
    message_id: int
    persona_id: str
    emotion: str
    memories_used: list[MemoryUsedOut]
    lore_used: list[LoreUsedOut]
    triggers_fired: list[TriggerFiredOut]
    actions: list[ActionOut]
    expression: ExpressionOut
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
    """A message of a conversation: ``MessageOut.dump(message)``."""

    id: int
    role: str
    speaker: str
    content: str
    status: str
    created_at: datetime


class HistoryOut(Out):
    conversation_id: StrId
    messages: list[MessageOut]


class ListParams(Params):
    persona_id: PersonaRef | None = None
    participant: ParticipantStr | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor | None = None


class ConversationOut(Out):
    """A conversation: ``ConversationOut.dump(conversation)`` (its persona selected with it)."""

    id: StrId
    persona_id: StrId
    persona_slug: str = Field(
        validation_alias=AliasChoices("persona_slug", AliasPath("persona", "slug"))
    )
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
    next_cursor: str | None


class EndParams(Params):
    conversation_id: ConversationRef


class EndOut(Out):
    ended: bool
    summary: str | None = None
