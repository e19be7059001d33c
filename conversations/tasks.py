"""Background work of the conversations app (Celery; in-process threads when embedded)."""

from __future__ import annotations

from celery import shared_task

from conversations import services

# The work that follows a turn (this app's and rooms'): two minutes at most, retried with
# backoff when the broker, the database or a backend connection is lost.
FOLLOW_UP = {
    "time_limit": 120,
    "autoretry_for": (ConnectionError,),
    "retry_backoff": True,
    "max_retries": 3,
}


@shared_task(name="conversations.after_turn", **FOLLOW_UP)
def after_turn(message_id: int, timings: dict | None = None) -> dict:
    """After a committed turn: final timings, episodic memory, mood, relationship update."""
    return services.conversation_after_turn(message_id=message_id, timings=timings)


@shared_task(name="conversations.mood_decay", time_limit=300)
def mood_decay() -> dict:
    """Periodic: let every persona's mood drift back toward its baseline."""
    return {"changed": services.persona_moods_decay()}


@shared_task(name="conversations.after_turn_recover", time_limit=600)
def after_turn_recover() -> dict:
    """Periodic: fail the turns whose process is gone (other hosts: once their lease expired),
    and finish the after-turn work of replies whose process died before doing it."""
    return {
        "turns_failed": services.conversation_turns_recover(),
        "recovered": services.conversation_after_turn_recover(),
    }
