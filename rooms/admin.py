"""Rooms in the admin: members in speaking order, their lines, closing."""

from __future__ import annotations

from django.contrib import admin

from rooms.models import Room, RoomMember, RoomMessage, ScenePosition


class RoomMemberInline(admin.TabularInline):
    model = RoomMember
    extra = 0
    fields = ["position", "persona"]
    autocomplete_fields = ["persona"]


class ScenePositionInline(admin.TabularInline):
    """Where each persona and participant stands in a spatial room."""

    model = ScenePosition
    extra = 0
    fields = ["entity_kind", "entity_id", "persona", "x", "y", "z", "updated_at"]
    readonly_fields = ["updated_at"]
    autocomplete_fields = ["persona"]


class RoomMessageInline(admin.TabularInline):
    model = RoomMessage
    extra = 0
    can_delete = False
    fields = ["created_at", "speaker_kind", "speaker_name", "content", "message"]
    readonly_fields = fields
    ordering = ["id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    """Rooms with their members (in speaking order) and their lines."""

    list_display = ["name", "policy", "spatial", "member_names", "created_at", "closed_at"]
    list_filter = ["policy", "spatial", ("closed_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "id", "memberships__persona__name", "memberships__persona__slug"]
    readonly_fields = ["id", "created_at"]
    inlines = [RoomMemberInline, ScenePositionInline, RoomMessageInline]
    actions = ["close_rooms"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("memberships__persona")

    @admin.display(description="personas")
    def member_names(self, obj: Room) -> str:
        return ", ".join(m.persona.name for m in obj.memberships.all())

    @admin.action(description="Close the selected rooms")
    def close_rooms(self, request, queryset) -> None:
        from rooms.services import room_close

        closed = 0
        for room in queryset.filter(closed_at__isnull=True):
            room_close(room=room)
            closed += 1
        self.message_user(request, f"Closed {closed} room(s).")


@admin.register(ScenePosition)
class ScenePositionAdmin(admin.ModelAdmin):
    """Positions in spatial rooms (also editable inline on the room)."""

    list_display = ["entity_id", "entity_kind", "room", "x", "y", "z", "updated_at"]
    list_filter = ["entity_kind"]
    search_fields = ["entity_id", "room__name", "persona__slug"]
    list_select_related = ["room", "persona"]
    autocomplete_fields = ["persona"]
    raw_id_fields = ["room"]
