"""Reads of bot accounts and runs."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from bots.exceptions import BotNotFound
from bots.models import BotAccount, BotRun
from personamcp.pagination import paginate


def _base_qs() -> QuerySet[BotAccount]:
    return BotAccount.objects.select_related("persona", "run")


def bot_get(*, bot_id: str | uuid.UUID) -> BotAccount:
    """A bot by its UUID; raises ``BotNotFound``."""
    try:
        key = uuid.UUID(str(bot_id))
    except (TypeError, ValueError):
        raise BotNotFound(f"bot {bot_id!r} not found") from None
    bot = _base_qs().filter(pk=key).first()
    if bot is None:
        raise BotNotFound(f"bot {bot_id!r} not found")
    ensure_run(bot)
    return bot


def bot_get_by_ref(*, ref: str) -> BotAccount:
    """A bot by UUID or by its persona's slug (the persona must have exactly one bot)."""
    try:
        return bot_get(bot_id=uuid.UUID(ref))
    except ValueError:
        pass
    bots = list(_base_qs().filter(persona__slug=ref).order_by("-enabled", "created_at")[:2])
    if not bots:
        raise BotNotFound(f"no bot for persona {ref!r}")
    if len(bots) > 1:
        raise BotNotFound(f"persona {ref!r} has several bots: pass the bot id")
    ensure_run(bots[0])
    return bots[0]


def bot_list(
    *, persona_ids: frozenset[str] | None = None, limit: int = 50, cursor: str | None = None
) -> tuple[list[BotAccount], str | None]:
    """One page of bots (with persona and run) by Matrix user id, optionally limited to some
    personas (filtered before paging). Returns ``(bots, next_cursor)``."""
    qs = _base_qs()
    if persona_ids is not None:
        qs = qs.filter(persona_id__in=list(persona_ids))
    bots, next_cursor = paginate(qs, order="user_id", limit=limit, cursor=cursor)
    for bot in bots:
        ensure_run(bot)
    return bots, next_cursor


def bot_all() -> list[BotAccount]:
    """Every bot with persona and run (for the supervisor)."""
    bots = list(_base_qs().order_by("user_id"))
    for bot in bots:
        ensure_run(bot)
    return bots


def bot_user_ids() -> set[str]:
    """Matrix user ids of every persona bot (to recognise bots and avoid bot-to-bot loops)."""
    return set(BotAccount.objects.values_list("user_id", flat=True))


def ensure_run(bot: BotAccount) -> BotRun:
    """The bot's run row (created, stopped, when missing)."""
    try:
        return bot.run
    except BotRun.DoesNotExist:
        run, _ = BotRun.objects.get_or_create(bot=bot)
        bot.run = run
        return run
