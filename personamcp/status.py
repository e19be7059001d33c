"""What the server is and how it is doing (system.info, system.status, /readyz)."""

from __future__ import annotations

from django.conf import settings

from personamcp import hooks
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
    """Name, versions, the apps' sections (``llm``, ``embedding``), capabilities, limits."""
    return {
        "name": "persona-mcp",
        "version": settings.PERSONAMCP["VERSION"],
        "protocol_version": settings.PERSONAMCP["PROTOCOL_VERSION"],
        **hooks.info_sections.collect(),
        "capabilities": CAPABILITIES,
        "limits": {
            "max_frame_bytes": settings.PERSONAMCP["MAX_FRAME_BYTES"],
            "max_batch": settings.PERSONAMCP["MAX_BATCH"],
            "max_message_chars": settings.PERSONAMCP["MAX_MESSAGE_CHARS"],
        },
    }


def system_status(*, active_sessions: int) -> dict:
    """Health of the database and channel layer, then the apps' fields (LLM, persona count)."""
    database = check_database()
    redis_check = check_redis()
    channel_layer = "redis" if settings.REDIS_URL else "in-memory"
    ok = database["ok"] and (redis_check is None or redis_check["ok"])
    return {
        "status": "ok" if ok else "degraded",
        "database": database,
        "channel_layer": {"backend": channel_layer, **(redis_check or {"ok": True})},
        **hooks.status_fields.collect(),
        "active_sessions": active_sessions,
    }
