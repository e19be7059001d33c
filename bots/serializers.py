"""Shape bots as JSON: the same dict on /api and /mcp. Credentials are never part of it."""

from __future__ import annotations

from bots.models import BotAccount
from bots.selectors import ensure_run
from personamcp.schemas import iso


def bot_data(bot: BotAccount) -> dict:
    """The public view of a bot and its run (see ``schemas.BotOut``)."""
    run = ensure_run(bot)
    return {
        "id": str(bot.id),
        "persona": {"id": str(bot.persona_id), "slug": bot.persona.slug},
        "platform": bot.platform,
        "homeserver": bot.homeserver,
        "user_id": bot.user_id,
        "rooms": list(bot.rooms),
        "invite_policy": bot.invite_policy,
        "invite_allowlist": list(bot.invite_allowlist),
        "answer_bots": bot.answer_bots,
        "enabled": bot.enabled,
        "autostart": bot.autostart,
        "has_password": bool(bot.password),
        "has_access_token": bool(bot.access_token),
        "status": run.status,
        "pid": run.pid,
        "host": run.host,
        "started_at": iso(run.started_at),
        "last_heartbeat_at": iso(run.last_heartbeat_at),
        "stopped_at": iso(run.stopped_at),
        "exit_code": run.exit_code,
        "restarts": run.restarts,
        "last_error": run.last_error,
        "gave_up": run.gave_up,
        "created_at": iso(bot.created_at),
        "updated_at": iso(bot.updated_at),
    }
