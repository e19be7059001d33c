"""Input and output shapes of personas, shared by the REST API and the JSON-RPC methods."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, StringConstraints, field_validator

from personamcp.schemas import Out, Params, StrId, Unit

SlugStr = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
TagStr = Annotated[str, StringConstraints(min_length=1, max_length=40, strip_whitespace=True)]
ItemStr = Annotated[str, StringConstraints(min_length=1, max_length=200)]
PersonaRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Personality(Params):
    openness: Unit = 0.5
    conscientiousness: Unit = 0.5
    extraversion: Unit = 0.5
    agreeableness: Unit = 0.5
    neuroticism: Unit = 0.5


class PersonalityPatch(Params):
    openness: Unit | None = None
    conscientiousness: Unit | None = None
    extraversion: Unit | None = None
    agreeableness: Unit | None = None
    neuroticism: Unit | None = None


class PersonaWritable(Params):
    description: Annotated[str, StringConstraints(max_length=200_000)] = ""
    speaking_style: Annotated[str, StringConstraints(max_length=50_000)] = ""
    background: Annotated[str, StringConstraints(max_length=100_000)] = ""
    goals: Annotated[list[ItemStr], Field(max_length=20)] = []
    interests: Annotated[list[ItemStr], Field(max_length=20)] = []
    tags: Annotated[list[TagStr], Field(max_length=20)] = []
    greeting: Annotated[str, StringConstraints(max_length=50_000)] = ""
    system_prompt: Annotated[str, StringConstraints(max_length=50_000)] = ""


class PersonaCreate(PersonaWritable):
    """Fields of a new persona; only ``name`` is required."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    slug: SlugStr | None = None
    personality: Personality = Personality()


class PersonaPatch(Params):
    """Writable fields of an existing persona; absent fields are left unchanged."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    slug: SlugStr | None = None
    description: Annotated[str, StringConstraints(max_length=200_000)] | None = None
    personality: PersonalityPatch | None = None
    speaking_style: Annotated[str, StringConstraints(max_length=50_000)] | None = None
    background: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    goals: Annotated[list[ItemStr], Field(max_length=20)] | None = None
    interests: Annotated[list[ItemStr], Field(max_length=20)] | None = None
    tags: Annotated[list[TagStr], Field(max_length=20)] | None = None
    greeting: Annotated[str, StringConstraints(max_length=50_000)] | None = None
    system_prompt: Annotated[str, StringConstraints(max_length=50_000)] | None = None


class PersonaListParams(Params):
    search: Annotated[str, StringConstraints(max_length=100)] | None = None
    tags: Annotated[list[TagStr], Field(max_length=20)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None


class PersonalityOut(Out):
    openness: float
    conscientiousness: float
    extraversion: float
    agreeableness: float
    neuroticism: float


class PersonaStateOut(Out):
    mood: float
    emotion: str
    energy: float
    social_battery: float
    stress: float
    updated_at: datetime


class PersonaOut(Out):
    """A persona (``PersonaOut.dump(persona)``; its tags prefetched)."""

    id: StrId
    slug: str
    name: str
    description: str
    personality: PersonalityOut
    speaking_style: str
    background: str
    goals: list[str]
    interests: list[str]
    tags: list[str]
    greeting: str
    system_prompt: str
    avatar_url: str | None = Field(validation_alias=AliasChoices("avatar_url", "avatar"))
    created_at: datetime
    updated_at: datetime

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, value):
        if hasattr(value, "all"):  # the persona's tag manager
            return [tag.name for tag in value.all()]
        return value

    @field_validator("avatar_url", mode="before")
    @classmethod
    def _avatar_url(cls, value):
        if value is None or isinstance(value, str):
            return value
        return value.url if value else None  # the persona's image field


class PersonaDetailOut(PersonaOut):
    """A persona with its state and ``stats`` (set by ``selectors.persona_detail_get``)."""

    state: PersonaStateOut
    stats: dict[str, int]


class PersonaListOut(Out):
    personas: list[PersonaOut]
    next_cursor: str | None


class PersonaListPageOut(PersonaListOut):
    """``GET /api/personas/``: the ``persona.list`` result plus the URL of the next page."""

    next: str | None


class PersonaDeletedOut(Out):
    deleted: bool
    persona_id: str


class PersonaSwitchOut(Out):
    persona: PersonaOut
    conversation_id: str | None


class PersonaExportOut(Out):
    """``{card}`` (``as: json``) or ``{data_base64, media_type}`` (``as: png`` / ``charx``)."""

    card: dict | None = None
    data_base64: str | None = None
    media_type: str | None = None


# A card file of up to 8 MiB, base64-encoded (4/3 of its size, plus a little).
CARD_FILE_B64 = 11_200_000


class PersonaImport(Params):
    """A Character Card V1/V2/V3 JSON object, or a card PNG / CHARX as base64 (8 MiB at most)."""

    card: dict | None = None
    png_base64: Annotated[str, StringConstraints(max_length=CARD_FILE_B64)] | None = None
    charx_base64: Annotated[str, StringConstraints(max_length=CARD_FILE_B64)] | None = None


class PersonaExportParams(Params):
    persona_id: PersonaRef
    format: Literal["ccv3", "ccv2"] = "ccv3"
    as_: Literal["json", "png", "charx"] = Field("json", alias="as")

    model_config = {**Params.model_config, "populate_by_name": True}
