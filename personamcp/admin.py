"""Admin for API keys: the raw key is shown once, right after creation."""

from __future__ import annotations

from django.contrib import admin, messages

from personamcp.models import KEY_PREFIX, ApiKey
from personamcp.services import api_key_create


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "masked",
        "scope",
        "is_active",
        "expires_at",
        "last_used_at",
        "created_at",
    ]
    list_filter = ["scope", "is_active"]
    search_fields = ["name", "prefix"]
    filter_horizontal = ["personas"]
    readonly_fields = ["masked", "created_at", "last_used_at"]
    fields = [
        "name",
        "scope",
        "personas",
        "is_active",
        "expires_at",
        "masked",
        "created_at",
        "last_used_at",
    ]

    @admin.display(description="Key")
    def masked(self, obj: ApiKey) -> str:
        return f"{KEY_PREFIX}{obj.prefix}_…" if obj.prefix else "(shown once after saving)"

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw = api_key_create(
            name=obj.name, scope=obj.scope, expires_at=obj.expires_at, is_active=obj.is_active
        )
        obj.pk, obj.prefix, obj.key_hash = key.pk, key.prefix, key.key_hash
        obj._state.adding = False
        messages.warning(request, f"New API key (copy it now, it is not shown again): {raw}")
