"""Input and output shapes of goals and triggers (``goal.*``, ``trigger.*``, /api/goals/,
/api/triggers/). ``When`` and ``Then`` reject unknown fields, so a misspelt condition is an
error naming it (``when.keyword``), never a trigger that silently never fires."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, StringConstraints, model_validator

from personamcp.schemas import Limit, Out, Params, SignedUnit, StrId
from personas.models import Relationship
from personas.schemas import PersonaRef

GoalText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
GoalStatus = Literal["active", "completed", "failed"]
Stage = Literal[tuple(Relationship.Stage.values)]  # type: ignore[valid-type]
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ActionName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$", max_length=64)
]
Cursor = Annotated[str, StringConstraints(max_length=200)]


class When(Params):
    """The conditions of a trigger; all given ones must hold (none: every message)."""

    event_type: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    keywords: Annotated[list[Word], Field(min_length=1, max_length=50)] | None = None
    intent: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    intent_examples: Annotated[list[Line], Field(min_length=1, max_length=20)] | None = None
    intent_threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    relationship_stage: Stage | None = None
    min_mood: SignedUnit | None = None
    max_mood: SignedUnit | None = None

    @model_validator(mode="after")
    def _consistent(self) -> When:
        both = self.min_mood is not None and self.max_mood is not None
        if both and self.min_mood > self.max_mood:
            raise ValueError("min_mood is above max_mood")
        if (self.intent_examples or self.intent_threshold is not None) and not self.intent:
            raise ValueError("intent_examples and intent_threshold need an intent")
        return self


class ActionIn(Params):
    name: ActionName
    arguments: dict[str, Any] = Field(default_factory=dict)


class GoalChange(Params):
    """A goal a trigger sets (by its text): added or re-prioritised, completed or failed."""

    goal: GoalText
    priority: Annotated[int, Field(ge=-1000, le=1000)] | None = None
    status: GoalStatus = "active"
    completion: Annotated[str, StringConstraints(max_length=500)] | None = None


class Then(Params):
    """The effects of a trigger (at least one)."""

    instruct: Line | None = None
    say: Line | None = None
    action: ActionIn | ActionName | None = None
    goal: GoalChange | GoalText | None = None

    @model_validator(mode="after")
    def _some_effect(self) -> Then:
        if not any(v is not None for v in (self.instruct, self.say, self.action, self.goal)):
            raise ValueError("give at least one of instruct, say, action, goal")
        return self

    def normalised(self) -> dict:
        """The stored form: ``action`` and ``goal`` always objects."""
        data = self.model_dump(exclude_none=True)
        if isinstance(self.action, str):
            data["action"] = {"name": self.action, "arguments": {}}
        if isinstance(self.goal, str):
            data["goal"] = {"goal": self.goal, "status": "active"}
        return data


class TriggerCreateParams(Params):
    persona_id: PersonaRef
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    when: When = Field(default_factory=When)
    then: Then
    once: bool = False
    cooldown_seconds: Annotated[int, Field(ge=0, le=10_000_000)] = 0


class TriggerListParams(Params):
    persona_id: PersonaRef | None = None
    limit: Limit = 50
    cursor: Cursor | None = None


class TriggerRefParams(Params):
    trigger_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TriggerOut(Out):
    id: StrId
    persona_id: StrId
    name: str
    when: dict[str, Any]
    then: dict[str, Any]
    once: bool
    cooldown_seconds: int
    enabled: bool
    fire_count: int
    last_fired_at: datetime | None
    created_at: datetime


class TriggerListOut(Out):
    triggers: list[TriggerOut]
    next_cursor: str | None


class DeletedOut(Out):
    deleted: bool


class TriggerFiredOut(Out):
    """One trigger that fired in a turn or for a world event."""

    trigger_id: str
    name: str
    persona_id: str
    matched: dict[str, Any]  # the conditions that held (keywords found, intent and score, …)
    then: dict[str, Any]  # its effects, as stored


class GoalSetParams(Params):
    persona_id: PersonaRef
    goal: GoalText
    goal_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    priority: Annotated[int, Field(ge=-1000, le=1000)] | None = None
    status: GoalStatus | None = None
    completion: Annotated[str, StringConstraints(max_length=500)] | None = None


class GoalListParams(Params):
    persona_id: PersonaRef
    status: GoalStatus | None = None
    limit: Limit = 50
    cursor: Cursor | None = None


class GoalCompleteParams(Params):
    persona_id: PersonaRef
    goal: Annotated[str, StringConstraints(min_length=1, max_length=500)]  # its id or its text
    status: Literal["completed", "failed"] = "completed"


class GoalOut(Out):
    id: StrId
    persona_id: StrId
    goal: str = Field(validation_alias=AliasChoices("text", "goal"))
    priority: int
    status: str
    completion: str
    source: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class GoalListOut(Out):
    goals: list[GoalOut]
    next_cursor: str | None
