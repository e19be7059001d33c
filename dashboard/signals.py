"""Record a persona's mood and energy every time its state is saved (the persona page's chart)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from dashboard.models import StateSample
from personas.models import PersonaState
from personas.signals import states_updated

KEEP_DAYS = 90


@receiver(post_save, sender=PersonaState, dispatch_uid="dashboard_state_sample")
def record_state_sample(sender, instance: PersonaState, raw: bool = False, **kwargs) -> None:
    if raw:  # fixtures
        return
    now = timezone.now()
    StateSample.objects.create(
        persona_id=instance.persona_id,
        at=now,
        mood=instance.mood,
        energy=instance.energy,
        emotion=instance.emotion,
    )
    # Cheap pruning: a persona's samples older than KEEP_DAYS go when a new one is written
    # on the hour's first minute (about once an hour per active persona).
    if now.minute == 0:
        StateSample.objects.filter(
            persona_id=instance.persona_id, at__lt=now - timedelta(days=KEEP_DAYS)
        ).delete()


@receiver(states_updated, sender=PersonaState, dispatch_uid="dashboard_state_samples")
def record_state_samples(sender, states: list[PersonaState], **kwargs) -> None:
    """One sample per state of a bulk update, in one INSERT (pruned as above)."""
    now = timezone.now()
    StateSample.objects.bulk_create(
        [
            StateSample(
                persona_id=s.persona_id, at=now, mood=s.mood, energy=s.energy, emotion=s.emotion
            )
            for s in states
        ]
    )
    if now.minute == 0:
        StateSample.objects.filter(
            persona_id__in=[s.persona_id for s in states], at__lt=now - timedelta(days=KEEP_DAYS)
        ).delete()
