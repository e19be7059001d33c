from personamcp.exceptions import Conflict, NoActivePersona, PersonaNotFound


class DuplicateSlug(Conflict):
    default_message = "a persona with this slug already exists"


__all__ = ["DuplicateSlug", "NoActivePersona", "PersonaNotFound"]
