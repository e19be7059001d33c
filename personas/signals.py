"""Broadcast persona changes wherever they come from (REST, RPC, admin, shell)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from personamcp import events
from personas.models import Persona, PersonaState, Relationship


def publish_persona_event(event: str, persona: Persona, /, **data) -> None:
    """Event ``event`` on the persona's topics (``persona.<slug>``, ``persona.<id>``, ``persona.*``);
    its data always names the persona's ``slug``."""
    events.publish(
        event,
        kind="persona",
        keys=(persona.slug, str(persona.id)),
        data={**data, "slug": persona.slug},
    )


def publish_persona_item_event(event: str, persona: Persona, item_id, /, **data) -> None:
    """Event ``event`` about one of the persona's things (a relationship, a memory): its data
    names the thing's ``id`` and the ``persona_id``."""
    publish_persona_event(event, persona, id=item_id, persona_id=str(persona.id), **data)


@receiver(post_save, sender=Persona, dispatch_uid="persona_saved")
def persona_saved(sender, instance: Persona, created: bool, **kwargs) -> None:
    event = events.PERSONA_CREATED if created else events.PERSONA_UPDATED
    publish_persona_event(event, instance, id=str(instance.id), name=instance.name)


@receiver(post_delete, sender=Persona, dispatch_uid="persona_deleted")
def persona_deleted(sender, instance: Persona, **kwargs) -> None:
    publish_persona_event(events.PERSONA_DELETED, instance, id=str(instance.id))


# Sent by ``persona_state_update_many`` with ``states=[PersonaState, ...]`` after one bulk
# UPDATE of several personas' states (which sends no post_save).
states_updated = Signal()


@receiver(states_updated, sender=PersonaState, dispatch_uid="persona_states_updated")
def persona_states_updated(sender, states: list[PersonaState], **kwargs) -> None:
    for state in states:
        persona_state_saved(sender, state, created=False)


@receiver(post_save, sender=PersonaState, dispatch_uid="persona_state_saved")
def persona_state_saved(sender, instance: PersonaState, created: bool, **kwargs) -> None:
    if created:
        return
    persona = instance.persona
    publish_persona_event(
        events.PERSONA_STATE_CHANGED,
        persona,
        id=str(persona.id),
        mood=instance.mood,
        emotion=instance.emotion,
        energy=instance.energy,
        social_battery=instance.social_battery,
        stress=instance.stress,
    )


@receiver(post_save, sender=Relationship, dispatch_uid="relationship_saved")
def relationship_saved(sender, instance: Relationship, **kwargs) -> None:
    publish_persona_item_event(
        events.RELATIONSHIP_CHANGED,
        instance.persona,
        instance.pk,
        other_id=instance.other_id,
        stage=instance.stage,
    )
