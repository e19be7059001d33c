"""Write-side operations on personas. Every front door (REST, RPC, admin, commands) calls these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from personamcp.exceptions import ValidationFailed
from personamcp.media import clean_image
from personas.exceptions import DuplicateSlug
from personas.models import TRAITS, Persona, PersonaState, Tag

_SIMPLE_FIELDS = (
    "name",
    "description",
    "speaking_style",
    "background",
    "goals",
    "interests",
    "greeting",
    "system_prompt",
)


def _unique_slug(base: str) -> str:
    base = (slugify(base) or "persona")[:56]
    slug, n = base, 2
    while Persona.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _full_clean(persona: Persona) -> None:
    try:
        persona.full_clean(exclude=["avatar", "slug"], validate_unique=False)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            [{"field": f, "message": " ".join(m)} for f, m in exc.message_dict.items()]
        ) from None


def _set_tags(persona: Persona, tags: list[str]) -> None:
    names = list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=n) for n in names if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    persona.tags.set([existing[n] for n in names])


def _save_slug_safely(persona: Persona, **save_kwargs: Any) -> None:
    try:
        with transaction.atomic():
            persona.save(**save_kwargs)
    except IntegrityError as exc:
        if Persona.objects.filter(slug=persona.slug).exclude(pk=persona.pk).exists():
            raise DuplicateSlug(f"a persona with slug {persona.slug!r} already exists") from None
        raise exc


@transaction.atomic
def persona_create(
    *,
    name: str,
    slug: str | None = None,
    personality: dict[str, float] | None = None,
    tags: list[str] | None = None,
    avatar: UploadedFile | None = None,
    extra: dict | None = None,
    state: dict[str, Any] | None = None,
    **fields: Any,
) -> Persona:
    """Create a persona and its initial state. Raises ``DuplicateSlug`` or ``ValidationFailed``."""
    unknown = set(fields) - set(_SIMPLE_FIELDS)
    if unknown:
        raise ValidationFailed([{"field": f, "message": "unknown field"} for f in sorted(unknown)])
    if slug and Persona.objects.filter(slug=slug).exists():
        raise DuplicateSlug(f"a persona with slug {slug!r} already exists")
    persona = Persona(name=name, slug=slug or _unique_slug(name), extra=extra or {}, **fields)
    for trait, value in (personality or {}).items():
        if trait in TRAITS and value is not None:
            setattr(persona, trait, value)
    if avatar is not None:
        # Verified, re-encoded, renamed by the server (never the client's name or bytes).
        persona.avatar = clean_image(avatar)
    _full_clean(persona)
    _save_slug_safely(persona, force_insert=True)
    PersonaState.objects.create(persona=persona, **(state or {}))
    if tags:
        _set_tags(persona, tags)
    return persona


@transaction.atomic
def persona_update(
    *,
    persona: Persona,
    personality: dict[str, float | None] | None = None,
    tags: list[str] | None = None,
    slug: str | None = None,
    extra: dict | None = None,
    **fields: Any,
) -> Persona:
    """Change the given fields (``None`` means unchanged) and save only what changed."""
    unknown = set(fields) - set(_SIMPLE_FIELDS)
    if unknown:
        raise ValidationFailed([{"field": f, "message": "unknown field"} for f in sorted(unknown)])
    changed: list[str] = []
    for field, value in fields.items():
        if value is not None and getattr(persona, field) != value:
            setattr(persona, field, value)
            changed.append(field)
    for trait, value in (personality or {}).items():
        if trait in TRAITS and value is not None and getattr(persona, trait) != value:
            setattr(persona, trait, value)
            changed.append(trait)
    if slug is not None and slug != persona.slug:
        persona.slug = slug
        changed.append("slug")
    if extra is not None:
        persona.extra = extra
        changed.append("extra")
    _full_clean(persona)
    if changed or tags is not None:
        _save_slug_safely(persona, update_fields=[*changed, "updated_at"])
    if tags is not None:
        _set_tags(persona, tags)
    return persona


def persona_set_avatar(*, persona: Persona, avatar: UploadedFile | None) -> Persona:
    """Replace (or with ``None`` remove) the persona's avatar image."""
    old = persona.avatar.name if persona.avatar else None
    if avatar is None:
        persona.avatar = ""
    else:
        image = clean_image(avatar)  # verified, re-encoded, renamed by the server
        persona.avatar.save(image.name, image, save=False)
    persona.save(update_fields=["avatar", "updated_at"])
    if old and old != (persona.avatar.name or None):
        persona.avatar.storage.delete(old)
    return persona


@transaction.atomic
def persona_delete(*, persona: Persona) -> str:
    """Delete a persona with everything that belongs to it; returns its id."""
    persona_id = str(persona.id)
    avatar = persona.avatar.name if persona.avatar else None
    persona.delete()
    if avatar:
        storage = Persona._meta.get_field("avatar").storage
        transaction.on_commit(lambda: storage.delete(avatar))
    return persona_id


@transaction.atomic
def persona_state_update(*, persona: Persona, **changes: float | str) -> PersonaState:
    """Set mood/emotion/energy/social_battery/stress; values are clamped to their ranges."""
    state, _ = PersonaState.objects.select_for_update().get_or_create(persona=persona)
    fields = _set_state(state, changes)
    state.save(update_fields=[*fields, "updated_at"])
    return state


STATE_RANGES = {"mood": (-1.0, 1.0), "energy": (0, 1), "social_battery": (0, 1), "stress": (0, 1)}


def _set_state(state: PersonaState, changes: dict) -> list[str]:
    """Set the changed fields on ``state`` (clamped); returns their names."""
    fields = []
    for key, value in changes.items():
        if key == "emotion":
            state.emotion = str(value)[:32]
        elif key in STATE_RANGES:
            low, high = STATE_RANGES[key]
            setattr(state, key, max(low, min(high, float(value))))
        else:
            raise ValidationFailed([{"field": key, "message": "unknown field"}])
        fields.append(key)
    return fields


def persona_state_update_many(
    *, personas: list[Persona], change: Callable[[Persona, PersonaState], dict]
) -> dict:
    """``persona_state_update`` for several personas at once: their rows are read and locked
    in one query (missing ones created in one), ``change(persona, current state)`` gives each
    one's new values, all are written in one UPDATE and ``states_updated`` is sent (a save's
    post_save receivers, in bulk: ``persona.state_changed`` for each, dashboard samples). Returns ``{persona id: PersonaState}``; call inside a
    transaction."""
    if not personas:
        return {}
    # Locked in one order, so two events with the same perceivers cannot deadlock.
    locked = (
        PersonaState.objects.select_for_update().filter(persona__in=personas).order_by("persona")
    )
    states = {s.persona_id: s for s in locked}
    missing = [PersonaState(persona=p) for p in personas if p.id not in states]
    if missing:
        PersonaState.objects.bulk_create(missing, ignore_conflicts=True)
        created = locked.filter(persona__in=[s.persona_id for s in missing])
        states.update({s.persona_id: s for s in created})
    now = timezone.now()
    fields: set[str] = set()
    for persona in personas:
        state = states[persona.id]
        state.persona = persona  # the signal receivers read it; no query
        fields.update(_set_state(state, change(persona, state)))
        state.updated_at = now
    rows = [states[p.id] for p in personas]
    PersonaState.objects.bulk_update(rows, [*sorted(fields), "updated_at"])
    from personas.signals import states_updated

    states_updated.send(sender=PersonaState, states=rows)
    return states


def persona_import(
    *,
    card: dict | None = None,
    png: bytes | None = None,
    charx: bytes | None = None,
    field: str | None = None,
) -> Persona:
    """Create a persona from a Character Card V1/V2/V3 object, a card PNG (which becomes the
    avatar) or a CHARX zip; see ``personas.cards.card_import``."""
    from personas.cards import card_import

    return card_import(card=card, png=png, charx=charx, field=field)
