"""Rooms in the admin: members in speaking order, their lines, closing."""

from __future__ import annotations

from django.contrib import admin

from rooms.models import Room, RoomMember, RoomMessage


class RoomMemberInline(admin.TabularInline):
    model = RoomMember
    extra = 0
    fields = ["position", "persona"]
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

    list_display = ["name", "policy", "member_names", "created_at", "closed_at"]
    list_filter = ["policy", ("closed_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "id", "memberships__persona__name", "memberships__persona__slug"]
    readonly_fields = ["id", "created_at"]
    inlines = [RoomMemberInline, RoomMessageInline]
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
