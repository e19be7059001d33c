"""Where the feature apps plug into the core.

The core package (``personamcp``) never imports a feature app: what it needs from one (how a
call names its persona, the sections of ``system.info``, the counts of ``system.status``, the
work done when a server starts) is provided by that app's ``AppConfig.ready()``::

    hooks.persona_lookup.provide(persona_for_call)
    hooks.status_fields.add("personas", lambda: Persona.objects.count())

so the dependency points one way: apps -> core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class Hook:
    """One function the core calls and exactly one app provides."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._func: Callable | None = None

    def provide(self, func: Callable) -> Callable:
        self._func = func
        return func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._func is None:
            raise ImproperlyConfigured(f"no installed app provides the {self.name!r} hook")
        return self._func(*args, **kwargs)

    @property
    def provided(self) -> bool:
        return self._func is not None


class Sections:
    """Named values computed by the apps, in the order the apps were installed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._funcs: dict[str, Callable[[], Any]] = {}

    def add(self, key: str, func: Callable[[], Any]) -> None:
        self._funcs[key] = func

    def __iter__(self):
        return iter(self._funcs.items())

    def collect(self) -> dict[str, Any]:
        return {key: func() for key, func in self._funcs.items()}


# ``persona_lookup(ref, with_state=False)``: the persona a call names by id or slug; ``ref`` None
# means the session has none active (the personas app raises its ``NoActivePersona``).
persona_lookup = Hook("persona_lookup")
# MCP resources and prompts (``persona://{slug}``): the personas a key may see (at most
# ``limit``, by name), a persona's ``persona.get`` document, and its card as prompt text.
persona_directory = Hook("persona_directory")
persona_document = Hook("persona_document")
persona_card_text = Hook("persona_card_text")
# ``system.info``: one section per provider (``llm``, ``embedding``).
info_sections = Sections("system.info")
# ``system.status``: health and counts (``llm_available``, ``personas``).
status_fields = Sections("system.status")
# Run on a thread when a server process starts (loading the embedding model, ...).
warm_ups = Sections("warm-up")
# Run once when a server process starts, before it serves (quick recovery work: turns left
# pending by a process that was killed).
server_starts = Sections("server start")

# ``session_scope(user)``: the API scope a staff user's browser session acts with, or None to
# keep the default (admin). The dashboard's roles narrow it (viewers read, authors write).
session_scope = Hook("session_scope")
