"""Shape personas as JSON (the same dicts on /api and /mcp; see ``schemas.PersonaOut``)."""

from __future__ import annotations

from personamcp.schemas import iso
from personas.models import TRAITS, Persona, PersonaState


def avatar_url(persona: Persona) -> str | None:
    return persona.avatar.url if persona.avatar else None


def persona_data(persona: Persona) -> dict:
    return {
        "id": str(persona.id),
        "slug": persona.slug,
        "name": persona.name,
        "description": persona.description,
        "personality": {t: getattr(persona, t) for t in TRAITS},
        "speaking_style": persona.speaking_style,
        "background": persona.background,
        "goals": list(persona.goals),
        "interests": list(persona.interests),
        "tags": [t.name for t in persona.tags.all()],
        "greeting": persona.greeting,
        "system_prompt": persona.system_prompt,
        "avatar_url": avatar_url(persona),
        "created_at": iso(persona.created_at),
        "updated_at": iso(persona.updated_at),
    }


def state_data(state: PersonaState) -> dict:
    return {
        "mood": state.mood,
        "emotion": state.emotion,
        "energy": state.energy,
        "social_battery": state.social_battery,
        "stress": state.stress,
        "updated_at": iso(state.updated_at),
    }


def persona_detail_data(persona: Persona, *, stats: dict[str, int]) -> dict:
    data = persona_data(persona)
    data["state"] = state_data(persona.state)
    data["stats"] = stats
    return data
