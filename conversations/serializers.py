"""Shape conversations and messages as JSON (the same dicts on /api and /mcp)."""

from __future__ import annotations

from conversations.models import Conversation, Message
from personamcp.schemas import iso


def conversation_data(conversation: Conversation) -> dict:
    return {
        "id": str(conversation.id),
        "persona_id": str(conversation.persona_id),
        "persona_slug": conversation.persona.slug,
        "participant": conversation.participant,
        "participant_name": conversation.participant_name,
        "platform": conversation.platform,
        "started_at": iso(conversation.started_at),
        "last_message_at": iso(conversation.last_message_at),
        "ended_at": iso(conversation.ended_at),
        "message_count": conversation.message_count,
        "summary": conversation.summary,
    }


def message_data(message: Message) -> dict:
    return {
        "id": message.id,
        "role": message.role,
        "speaker": message.speaker,
        "content": message.content,
        "status": message.status,
        "created_at": iso(message.created_at),
    }
