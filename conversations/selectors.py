"""Read-side queries for conversations and messages."""

from __future__ import annotations

from django.db.models.functions import Coalesce

from conversations.exceptions import ConversationNotFound
from conversations.models import Conversation, Message
from personamcp.pagination import paginate
from personamcp.selectors import one_or_not_found
from personas.models import Persona


def conversation_open_for(*, persona: Persona, participant: str) -> Conversation | None:
    """The open conversation of ``persona`` with ``participant``, if any."""
    return (
        Conversation.objects.filter(persona=persona, participant=participant, ended_at__isnull=True)
        .order_by("-started_at")
        .first()
    )


def conversation_get(*, conversation_id: str) -> Conversation:
    """The conversation with this id (with its persona); raises ``ConversationNotFound``."""
    conversations = Conversation.objects.select_related("persona")
    return one_or_not_found(conversations, conversation_id, ConversationNotFound, "conversation")


def conversation_list(
    *,
    persona: Persona | None = None,
    participant: str | None = None,
    persona_ids: frozenset[str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Conversation], str | None]:
    """One page of conversations, most recently active first (the last message, else the
    start), and the cursor of the next page; ``persona_ids`` restricts to those personas."""
    qs = Conversation.objects.select_related("persona")
    if persona is not None:
        qs = qs.filter(persona=persona)
    if participant:
        qs = qs.filter(participant=participant)
    if persona_ids is not None:
        qs = qs.filter(persona_id__in=list(persona_ids))
    qs = qs.annotate(active_at=Coalesce("last_message_at", "started_at"))
    return paginate(qs, order="-active_at", limit=limit, cursor=cursor)


def message_history(
    *, conversation: Conversation, limit: int = 50, before: int | None = None
) -> list[Message]:
    """The last ``limit`` messages (before message id ``before``), oldest first."""
    qs = Message.objects.filter(conversation=conversation)
    if before is not None:
        qs = qs.filter(id__lt=before)
    return list(reversed(qs.order_by("-id")[:limit]))


def prompt_history(
    *, conversation: Conversation, limit: int = 40, before_id: int | None = None
) -> list[tuple[str, str, str]]:
    """Recent ``(role, speaker, content)`` that go into a prompt, oldest first (before message
    ``before_id``, the turn's own message); failed and pending turns are left out."""
    if limit <= 0:
        return []
    qs = Message.objects.filter(conversation=conversation).exclude(
        status__in=[Message.Status.FAILED, Message.Status.PENDING]
    )
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    rows = qs.order_by("-id").values_list("role", "speaker", "content")[:limit]
    return list(reversed(rows))
