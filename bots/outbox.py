"""The outbox of a bot: every message it sends is a row first, sent by the runner's delivery
loop and retried until the homeserver took it.

A row's transaction id is chosen once, so a retry after a connection error, a homeserver
restart, a 429 (``retry_after_ms`` honoured) or a restart of the bot itself is the same Matrix
send: the homeserver stores the message once, however often it was asked.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.utils import timezone

from bots.models import BotAccount, OutboxMessage

# A refused send is retried this often before the row is marked failed (errors other than
# 429 and unreachable homeservers, which are retried until they pass).
MAX_REFUSALS = 3
# Local errors (a room not joined yet...) get a little longer: 0.5 + 1 + 2 + 4 + 8 s.
MAX_LOCAL_ERRORS = 6
BACKOFF_MAX = 30.0


def outbox_add(
    *, bot: BotAccount, room_id: str, content: dict, line_id: int | None = None
) -> OutboxMessage:
    return OutboxMessage.objects.create(
        bot=bot,
        room_id=room_id,
        content=content,
        line_id=line_id,
        txn_id=f"pmcp-{uuid.uuid4().hex}",
    )


def outbox_due(*, bot: BotAccount, limit: int = 20) -> list[OutboxMessage]:
    """Pending messages of the bot whose time has come, oldest first."""
    now = timezone.now()
    rows = OutboxMessage.objects.filter(bot=bot, status=OutboxMessage.Status.PENDING)
    return [r for r in rows.order_by("id")[:limit] if r.next_try_at is None or r.next_try_at <= now]


def outbox_sent(*, row: OutboxMessage, event_id: str) -> None:
    row.status = OutboxMessage.Status.SENT
    row.event_id = event_id[:255]
    row.sent_at = timezone.now()
    row.attempts += 1
    row.save(update_fields=["status", "event_id", "sent_at", "attempts"])


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 0.5, 1, 2 ... 30."""
    return min(BACKOFF_MAX, 0.5 * 2 ** max(0, attempts - 1))


def outbox_retry(
    *,
    row: OutboxMessage,
    error: str,
    delay: float | None = None,
    refused: bool = False,
    max_tries: int = MAX_REFUSALS,
) -> float | None:
    """A failed try: retried after ``delay`` seconds (default: the backoff), or marked failed
    after ``max_tries`` refusals. Returns the delay, None when the row failed."""
    row.attempts += 1
    row.last_error = error[:500]
    if refused and row.attempts >= max_tries:
        row.status = OutboxMessage.Status.FAILED
        row.save(update_fields=["attempts", "last_error", "status"])
        return None
    wait = backoff(row.attempts) if delay is None else delay
    row.next_try_at = timezone.now() + timedelta(seconds=wait)
    row.save(update_fields=["attempts", "last_error", "next_try_at"])
    return wait


def outbox_pending_count(*, bot: BotAccount) -> int:
    return OutboxMessage.objects.filter(bot=bot, status=OutboxMessage.Status.PENDING).count()
