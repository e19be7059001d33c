"""Django admin for goals and triggers."""

from __future__ import annotations

from django.contrib import admin

from goals.models import Goal, Trigger


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ["text", "persona", "priority", "status", "source", "updated_at"]
    list_filter = ["status", "persona"]
    search_fields = ["text", "persona__name", "persona__slug"]
    list_select_related = ["persona"]
    readonly_fields = ["id", "created_at", "updated_at", "closed_at"]


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = ["name", "persona", "once", "cooldown_seconds", "enabled", "fire_count"]
    list_filter = ["enabled", "once", "persona"]
    search_fields = ["name", "persona__name", "persona__slug"]
    list_select_related = ["persona"]
    readonly_fields = ["id", "fire_count", "last_fired_at", "created_at"]
