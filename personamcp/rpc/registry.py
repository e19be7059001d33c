"""The registry of JSON-RPC methods.

Each app declares its methods in ``<app>/rpc.py``::

    @rpc_method("persona.get", params=PersonaGetParams, result=PersonaDetailOut, scope="read")
    def persona_get(ctx: RpcContext, params: PersonaGetParams) -> dict:
        "Docstring: becomes the method's summary in rpc.discover."

Handlers may be plain functions (run in a worker thread with database access) or coroutines
(run on the event loop; they must not touch the database directly). ``scope`` is the API-key
scope needed (``None`` with ``public=True``: callable before authentication).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from pydantic import BaseModel

from personamcp.schemas import NoParams


@dataclass(frozen=True)
class RpcMethod:
    name: str
    func: Callable
    params: type[BaseModel]
    result: type[BaseModel] | dict | None
    scope: str | None
    public: bool
    is_async: bool
    summary: str
    description: str
    tags: tuple[str, ...] = field(default=())


class MethodRegistry:
    def __init__(self) -> None:
        self._methods: dict[str, RpcMethod] = {}

    def register(self, method: RpcMethod) -> None:
        if method.name in self._methods and self._methods[method.name].func is not method.func:
            raise ValueError(f"JSON-RPC method {method.name!r} registered twice")
        self._methods[method.name] = method

    def get(self, name: str) -> RpcMethod | None:
        return self._methods.get(name)

    def all(self) -> list[RpcMethod]:
        return sorted(self._methods.values(), key=lambda m: m.name)

    def __contains__(self, name: str) -> bool:
        return name in self._methods


registry = MethodRegistry()


def rpc_method(
    name: str,
    *,
    params: type[BaseModel] = NoParams,
    result: type[BaseModel] | dict | None = None,
    scope: str | None = "read",
    public: bool = False,
) -> Callable[[Callable], Callable]:
    """Register ``func`` as the JSON-RPC method ``name``."""

    def decorator(func: Callable) -> Callable:
        doc = inspect.getdoc(func) or ""
        summary, _, description = doc.partition("\n\n")
        registry.register(
            RpcMethod(
                name=name,
                func=func,
                params=params,
                result=result,
                scope=None if public else scope,
                public=public,
                is_async=inspect.iscoroutinefunction(func),
                summary=summary.replace("\n", " ").strip(),
                description=description.strip(),
                tags=(name.split(".", 1)[0],),
            )
        )
        return func

    return decorator


def autodiscover() -> None:
    """Import ``rpc`` of every installed app (and the core methods) so that they register."""
    importlib.import_module("personamcp.rpc.methods")
    importlib.import_module("personamcp.rpc.mcp")
    for config in apps.get_app_configs():
        if config.name == "personamcp":
            continue
        try:
            importlib.import_module(f"{config.name}.rpc")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.rpc":
                raise
