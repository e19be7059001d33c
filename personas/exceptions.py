"""Persona domain exceptions, each with its row in the one error table."""

from personamcp.exceptions import Conflict, DomainError, NotFound


class PersonaNotFound(NotFound, code=-32001, status=404, message="persona not found"): ...


class NoActivePersona(
    DomainError,
    code=-32002,
    status=400,
    message="no active persona: call persona.switch or pass persona_id",
): ...


class DuplicateSlug(Conflict, message="a persona with this slug already exists"):
    """Answers with the generic conflict code (-32040), as the protocol documents."""
