"""lorebook.* JSON-RPC methods: thin wrappers over ``lore.operations``."""

from __future__ import annotations

from lore import operations
from lore.schemas import (
    LorebookAttachParams,
    LorebookCreate,
    LorebookDeletedOut,
    LorebookExportOut,
    LorebookExportParams,
    LorebookIdParams,
    LorebookImportParams,
    LorebookListOut,
    LorebookListParams,
    LorebookOut,
    LorebookUpdateParams,
)
from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import rpc_method


@rpc_method("lorebook.list", params=LorebookListParams, result=LorebookListOut)
def lorebook_list(ctx: RpcContext, params: LorebookListParams) -> dict:
    """Lorebooks (World Info), optionally those a persona scans or a room's; paginated."""
    return operations.list_(ctx.principal, params)


@rpc_method("lorebook.get", params=LorebookIdParams, result=LorebookOut)
def lorebook_get(ctx: RpcContext, params: LorebookIdParams) -> dict:
    """One lorebook with its entries."""
    return operations.detail(operations.get(ctx.principal, params.lorebook_id))


@rpc_method("lorebook.create", params=LorebookCreate, result=LorebookOut, scope="write")
def lorebook_create(ctx: RpcContext, params: LorebookCreate) -> dict:
    """Create a lorebook; entries use the Character Card ``character_book`` entry fields."""
    return operations.create(ctx.principal, params)


@rpc_method("lorebook.update", params=LorebookUpdateParams, result=LorebookOut, scope="write")
def lorebook_update(ctx: RpcContext, params: LorebookUpdateParams) -> dict:
    """Change some fields of a lorebook; ``entries`` replaces all its entries."""
    return operations.update(ctx.principal, params.lorebook_id, params)


@rpc_method("lorebook.delete", params=LorebookIdParams, result=LorebookDeletedOut, scope="write")
def lorebook_delete(ctx: RpcContext, params: LorebookIdParams) -> dict:
    """Delete a lorebook and its entries."""
    return operations.delete(ctx.principal, params.lorebook_id)


@rpc_method("lorebook.attach", params=LorebookAttachParams, result=LorebookOut, scope="write")
def lorebook_attach(ctx: RpcContext, params: LorebookAttachParams) -> dict:
    """Attach a lorebook to a persona or to a room (a shared world for its members)."""
    return operations.attach(ctx.principal, params)


@rpc_method("lorebook.detach", params=LorebookAttachParams, result=LorebookOut, scope="write")
def lorebook_detach(ctx: RpcContext, params: LorebookAttachParams) -> dict:
    """Detach a lorebook from a persona or a room."""
    return operations.attach(ctx.principal, params, detach=True)


@rpc_method("lorebook.import", params=LorebookImportParams, result=LorebookOut, scope="write")
def lorebook_import(ctx: RpcContext, params: LorebookImportParams) -> dict:
    """Import a SillyTavern World Info file or a card's ``character_book`` as a lorebook."""
    return operations.import_(ctx.principal, params)


@rpc_method("lorebook.export", params=LorebookExportParams, result=LorebookExportOut)
def lorebook_export(ctx: RpcContext, params: LorebookExportParams) -> dict:
    """A lorebook as a World Info file (``worldinfo``) or a ``character_book`` object."""
    return operations.export(ctx.principal, params.lorebook_id, params.format)
