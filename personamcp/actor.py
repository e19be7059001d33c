"""Who is acting, and through which door, for the audit log (read by the ``audit`` app).

Each door binds an ``Actor`` for the work it does (the HTTP middleware for the admin, REST and
the web pages; the JSON-RPC dispatcher for /mcp; nothing for commands, the shell, tasks and
background jobs, which are told apart by the process they run in). The model signals in
``audit.signals`` read it, so every change is attributed whichever service made it.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from dataclasses import dataclass
from typing import Any


@dataclass
class Actor:
    """Mutable on purpose: a door binds it first, authentication fills it in later."""

    door: str
    principal: Any = None  # personamcp.auth.Principal
    user: Any = None  # a django.contrib.auth user

    def describe(self) -> dict:
        """The actor columns of an audit row."""
        principal, user = self.principal, self.user
        row = {"door": self.door, "user_id": None, "api_key_id": None}
        if principal is not None and getattr(principal, "key_id", None):
            row.update(actor_kind="key", actor=f"key:{principal.name}", api_key_id=principal.key_id)
        elif user is not None and getattr(user, "is_authenticated", False):
            row.update(actor_kind="user", actor=f"user:{user.get_username()}", user_id=user.pk)
        elif principal is not None and getattr(principal, "dev", False):
            row.update(actor_kind="anonymous", actor="anonymous (local development mode)")
        elif principal is not None:
            row.update(actor_kind="user", actor=principal.name)
        elif self.door in ("shell", "command", "task", "system"):
            row.update(actor_kind="system", actor=_process_name())
        else:
            row.update(actor_kind="anonymous", actor="anonymous")
        return row


_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)


def _process_door() -> str:
    argv = [a.rsplit("/", 1)[-1] for a in sys.argv[:3]]
    if argv and argv[0] in ("manage.py", "django-admin") and len(argv) > 1:
        return "shell" if argv[1] in ("shell", "shell_plus", "dbshell") else "command"
    if "celery" in argv[:2]:
        return "task"
    return "system"


def _process_name() -> str:
    argv = [a.rsplit("/", 1)[-1] for a in sys.argv[:2]]
    if argv and argv[0] in ("manage.py", "django-admin") and len(argv) > 1:
        return f"manage.py {argv[1]}"
    if "celery" in argv:
        return "celery worker"
    return "server"


def current() -> Actor:
    """The bound actor, or the process itself (a command, the shell, a task, the server)."""
    return _current.get() or Actor(door=_process_door())


def bind(door: str, *, principal=None, user=None) -> contextvars.Token:
    """Bind an actor for the rest of this context; returns the token for ``reset``."""
    return _current.set(Actor(door=door, principal=principal, user=user))


def bind_actor(actor: Actor) -> contextvars.Token:
    """Bind an actor made beforehand (a door that serves many calls for one principal)."""
    return _current.set(actor)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


def set_principal(principal) -> None:
    """Authentication happened after the door bound the actor (DRF): fill it in."""
    actor = _current.get()
    if actor is not None:
        actor.principal = principal


@contextlib.contextmanager
def acting(door: str, *, principal=None, user=None):
    """``with acting("command", user=u): ...`` for code that knows better than the process."""
    token = bind(door, principal=principal, user=user)
    try:
        yield
    finally:
        reset(token)
