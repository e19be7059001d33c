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


# --- Character Card V2 / V3 (the community format used by SillyTavern and others) -------------
#
# Mapping: description -> description, personality (free text) -> speaking_style,
# scenario -> background, first_mes -> greeting, system_prompt -> system_prompt, tags -> tags.
# Big Five traits, goals, interests and the slug travel in ``data.extensions.persona_mcp``.
# Every other card field is kept verbatim in ``Persona.extra["card"]`` and given back on export.

CARD_FIELD_MAP = {
    "description": "description",
    "personality": "speaking_style",
    "scenario": "background",
    "first_mes": "greeting",
    "system_prompt": "system_prompt",
}
_MAPPED = {"name", "tags", *CARD_FIELD_MAP}
_LIMITS = {
    "name": 100,
    "description": 4000,
    "speaking_style": 1000,
    "background": 8000,
    "greeting": 2000,
    "system_prompt": 8000,
}


def card_to_persona_fields(card: dict) -> dict:
    """Fields for ``persona_create`` from a V2/V3 card; raises ``ValidationFailed`` when invalid."""
    from personamcp.exceptions import ValidationFailed

    spec = card.get("spec")
    if spec not in ("chara_card_v2", "chara_card_v3"):
        raise ValidationFailed(
            [{"field": "card.spec", "message": "expected chara_card_v2 or chara_card_v3"}]
        )
    data = card.get("data")
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "card.data", "message": "must be an object"}])
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed([{"field": "card.data.name", "message": "a name is required"}])
    fields: dict = {"name": name.strip()}
    errors = []
    for card_key, field in CARD_FIELD_MAP.items():
        value = data.get(card_key) or ""
        if not isinstance(value, str):
            errors.append({"field": f"card.data.{card_key}", "message": "must be a string"})
            continue
        fields[field] = value
    for field, limit in _LIMITS.items():
        if len(fields.get(field, "")) > limit:
            errors.append({"field": field, "message": f"longer than {limit} characters"})
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errors.append({"field": "card.data.tags", "message": "must be a list of strings"})
    if errors:
        raise ValidationFailed(errors)
    fields["tags"] = [t[:40] for t in tags if t.strip()][:20]
    extensions = dict(data.get("extensions") or {})
    ours = extensions.pop("persona_mcp", None) or {}
    if isinstance(ours.get("personality"), dict):
        fields["personality"] = {
            k: float(v)
            for k, v in ours["personality"].items()
            if k
            in ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
            and isinstance(v, int | float)
            and 0 <= v <= 1
        }
    for key in ("goals", "interests"):
        if isinstance(ours.get(key), list):
            fields[key] = [str(v)[:200] for v in ours[key]][:20]
    if isinstance(ours.get("slug"), str):
        fields["slug"] = ours["slug"]
    kept = {k: v for k, v in data.items() if k not in _MAPPED and k != "extensions"}
    kept["extensions"] = extensions
    fields["extra"] = {"card": kept, "spec": spec, "spec_version": card.get("spec_version")}
    return fields


def persona_to_card(persona: Persona, *, fmt: str = "ccv3") -> dict:
    """The persona as a Character Card V3 (default) or V2 JSON object."""
    kept = dict((persona.extra or {}).get("card") or {})
    extensions = dict(kept.pop("extensions", {}) or {})
    extensions["persona_mcp"] = {
        "slug": persona.slug,
        "personality": persona.personality,
        "goals": list(persona.goals),
        "interests": list(persona.interests),
    }
    data = {
        "name": persona.name,
        "description": persona.description,
        "personality": persona.speaking_style,
        "scenario": persona.background,
        "first_mes": persona.greeting,
        "mes_example": "",
        "creator_notes": "",
        "system_prompt": persona.system_prompt,
        "post_history_instructions": "",
        "alternate_greetings": [],
        "tags": [t.name for t in persona.tags.all()],
        "creator": "",
        "character_version": "",
        **kept,
        "extensions": extensions,
    }
    if fmt == "ccv2":
        for key in (
            "nickname",
            "creator_notes_multilingual",
            "source",
            "group_only_greetings",
            "creation_date",
            "modification_date",
            "assets",
        ):
            data.pop(key, None)
        return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}
    data.setdefault("group_only_greetings", [])
    data["creation_date"] = int(persona.created_at.timestamp())
    data["modification_date"] = int(persona.updated_at.timestamp())
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data}


def card_from_png(raw: bytes) -> dict:
    """The card embedded in a PNG's ``ccv3`` (preferred) or ``chara`` text chunk."""
    import base64
    import io
    import json

    from PIL import Image, UnidentifiedImageError

    from personamcp.exceptions import ValidationFailed

    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError):
        raise ValidationFailed([{"field": "png_base64", "message": "not a PNG image"}]) from None
    chunks = getattr(image, "text", {}) or {}
    for keyword in ("ccv3", "chara"):
        if keyword in chunks:
            try:
                return json.loads(base64.b64decode(chunks[keyword]))
            except ValueError:
                raise ValidationFailed(
                    [{"field": "png_base64", "message": f"the {keyword} chunk is not base64 JSON"}]
                ) from None
    raise ValidationFailed([{"field": "png_base64", "message": "no character card in this PNG"}])
