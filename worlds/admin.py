"""Game worlds in the admin: events with who perceived them and how."""

from __future__ import annotations

from django.contrib import admin

from worlds.models import Perception, WorldEvent


class PerceptionInline(admin.TabularInline):
    model = Perception
    extra = 0
    can_delete = False
    fields = ["persona", "role", "distance", "valence", "mood", "emotion", "memory"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WorldEvent)
class WorldEventAdmin(admin.ModelAdmin):
    """Events reported by games (``world.event``) and each persona's perception of them."""

    list_display = ["created_at", "type", "short", "actor_name", "persona", "room"]
    list_filter = ["type", "actor_kind"]
    search_fields = ["description", "actor", "actor_name", "target", "persona__slug", "room__name"]
    list_select_related = ["persona", "room"]
    readonly_fields = ["id", "created_at"]
    raw_id_fields = ["persona", "room"]
    inlines = [PerceptionInline]

    @admin.display(description="description")
    def short(self, obj: WorldEvent) -> str:
        return obj.description[:80]


@admin.register(Perception)
class PerceptionAdmin(admin.ModelAdmin):
    """One persona's perception of an event: its memory, appraisal and resulting mood."""

    list_display = ["created_at", "persona", "role", "event", "valence", "mood", "emotion"]
    list_filter = ["role", "appraisal_method"]
    search_fields = ["persona__slug", "event__description"]
    list_select_related = ["persona", "event"]
    raw_id_fields = ["event", "persona", "memory"]
