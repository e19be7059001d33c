"""Human-readable persona cards (MCP prompts, LLM system prompts)."""

from __future__ import annotations

from personas.models import Persona


def _level(value: float) -> str:
    if value >= 0.75:
        return "very high"
    if value >= 0.6:
        return "high"
    if value > 0.4:
        return "moderate"
    if value > 0.25:
        return "low"
    return "very low"


def persona_card_text(persona: Persona) -> str:
    """The persona's card as plain text: description, personality, style, background, goals."""
    lines = [f"Name: {persona.name}"]
    if persona.description:
        lines.append(f"Description: {persona.description}")
    traits = ", ".join(f"{t} {_level(v)}" for t, v in persona.personality.items())
    lines.append(f"Personality (Big Five): {traits}")
    if persona.speaking_style:
        lines.append(f"Speaking style: {persona.speaking_style}")
    if persona.background:
        lines.append(f"Background: {persona.background}")
    if persona.goals:
        lines.append("Goals: " + "; ".join(persona.goals))
    if persona.interests:
        lines.append("Interests: " + ", ".join(persona.interests))
    if persona.system_prompt:
        lines.append(persona.system_prompt)
    return "\n".join(lines)
