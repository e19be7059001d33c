"""Broadcast persona changes wherever they come from (REST, RPC, admin, shell)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from personamcp import events
from personas.models import Persona, PersonaState, Relationship


@receiver(post_save, sender=Persona, dispatch_uid="persona_saved")
def persona_saved(sender, instance: Persona, created: bool, **kwargs) -> None:
    kind = events.PERSONA_CREATED if created else events.PERSONA_UPDATED
    events.publish(
        kind,
        kind="persona",
        keys=(instance.slug, str(instance.id)),
        data={"id": str(instance.id), "slug": instance.slug, "name": instance.name},
    )


@receiver(post_delete, sender=Persona, dispatch_uid="persona_deleted")
def persona_deleted(sender, instance: Persona, **kwargs) -> None:
    events.publish(
        events.PERSONA_DELETED,
        kind="persona",
        keys=(instance.slug, str(instance.id)),
        data={"id": str(instance.id), "slug": instance.slug},
    )


@receiver(post_save, sender=PersonaState, dispatch_uid="persona_state_saved")
def persona_state_saved(sender, instance: PersonaState, created: bool, **kwargs) -> None:
    if created:
        return
    persona = instance.persona
    events.publish(
        events.PERSONA_STATE_CHANGED,
        kind="persona",
        keys=(persona.slug, str(persona.id)),
        data={
            "id": str(persona.id),
            "slug": persona.slug,
            "mood": instance.mood,
            "emotion": instance.emotion,
            "energy": instance.energy,
            "social_battery": instance.social_battery,
            "stress": instance.stress,
        },
    )


@receiver(post_save, sender=Relationship, dispatch_uid="relationship_saved")
def relationship_saved(sender, instance: Relationship, **kwargs) -> None:
    persona = instance.persona
    events.publish(
        events.RELATIONSHIP_CHANGED,
        kind="persona",
        keys=(persona.slug, str(persona.id)),
        data={
            "id": instance.pk,
            "persona_id": str(persona.id),
            "slug": persona.slug,
            "other_id": instance.other_id,
            "stage": instance.stage,
        },
    )
