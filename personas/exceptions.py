"""Persona domain exceptions, each with its row in the one error table."""

from personamcp.errors import register_error
from personamcp.exceptions import Conflict, DomainError, NotFound


@register_error(-32001, 404)
class PersonaNotFound(NotFound):
    default_message = "persona not found"


@register_error(-32002, 400)
class NoActivePersona(DomainError):
    default_message = "no active persona: call persona.switch or pass persona_id"


class DuplicateSlug(Conflict):
    """Answers with the generic conflict code (-32040), as the protocol documents."""

    default_message = "a persona with this slug already exists"
