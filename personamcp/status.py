"""What the server is and how it is doing (system.info, system.status, /readyz)."""

from __future__ import annotations

from django.conf import settings

from personamcp.health import check_database, check_redis

CAPABILITIES = [
    "personas",
    "memory",
    "conversations",
    "streaming",
    "relationships",
    "rooms",
    "events",
    "bots",
    "mcp",
]


def system_info() -> dict:
    from conversations.llm import provider_info
    from memory.embeddings import embedding_info

    return {
        "name": "persona-mcp",
        "version": settings.PERSONAMCP["VERSION"],
        "protocol_version": settings.PERSONAMCP["PROTOCOL_VERSION"],
        "llm": provider_info(),
        "embedding": embedding_info(),
        "capabilities": CAPABILITIES,
        "limits": {
            "max_frame_bytes": settings.PERSONAMCP["MAX_FRAME_BYTES"],
            "max_batch": settings.PERSONAMCP["MAX_BATCH"],
            "max_message_chars": settings.PERSONAMCP["MAX_MESSAGE_CHARS"],
        },
    }


def system_status(*, active_sessions: int) -> dict:
    from conversations.llm import provider_available
    from personas.models import Persona

    database = check_database()
    redis_check = check_redis()
    channel_layer = "redis" if settings.REDIS_URL else "in-memory"
    ok = database["ok"] and (redis_check is None or redis_check["ok"])
    return {
        "status": "ok" if ok else "degraded",
        "database": database,
        "channel_layer": {"backend": channel_layer, **(redis_check or {"ok": True})},
        "llm_available": provider_available(),
        "personas": Persona.objects.count(),
        "active_sessions": active_sessions,
    }
