"""Admin for bots: live status, start/stop/restart/sync-profile actions, a log view.

Credentials are write-only here too: the form has empty password inputs (leave them empty to
keep the stored value) and no list or detail page shows them.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from bots import bridges, rooms, selectors, services, supervision
from bots.models import BotAccount, BotRoom, BridgedEvent, OutboxMessage, RoomBridge
from personamcp.exceptions import DomainError, ValidationFailed

STATUS_COLOURS = {
    "running": "#2e7d32",
    "starting": "#f9a825",
    "stopping": "#f9a825",
    "stopped": "#757575",
    "crashed": "#c62828",
}
SECRETS = ("password", "access_token")


class BotAccountForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the stored password.",
    )
    access_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the stored token (filled in after login).",
    )

    class Meta:
        model = BotAccount
        fields = [
            "persona",
            "homeserver",
            "user_id",
            "password",
            "access_token",
            "rooms",
            "invite_policy",
            "invite_allowlist",
            "answer_bots",
            "trust_policy",
            "trusted_users",
            "blocked_users",
            "enabled",
            "autostart",
        ]

    def clean(self):
        data = super().clean()
        try:
            services.validate_fields(
                {
                    k: data[k]
                    for k in (
                        "homeserver",
                        "user_id",
                        "rooms",
                        "invite_allowlist",
                        "trusted_users",
                        "blocked_users",
                    )
                    if k in data
                }
            )
        except ValidationFailed as exc:
            for error in exc.errors:
                self.add_error(
                    error["field"] if error["field"] in self.fields else None, error["message"]
                )
        has_stored = self.instance.pk and (self.instance.password or self.instance.access_token)
        if not (data.get("password") or data.get("access_token") or has_stored):
            self.add_error("password", "a password or an access token is required")
        return data


def _grouped(key: str) -> str:
    """A device key the way Matrix clients show it: groups of four characters."""
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


class BotRoomInline(admin.TabularInline):
    """The bot's rooms as its runner last saw them; answer mode and rate are editable."""

    model = BotRoom
    extra = 0
    can_delete = False
    fields = ["room_id", "name", "membership", "inviter", "member_count", "encrypted", "answer"]
    fields += ["rate_per_minute"]
    readonly_fields = ["room_id", "name", "membership", "inviter", "member_count", "encrypted"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BotRoom)
class BotRoomAdmin(admin.ModelAdmin):
    """Every bot's rooms: accept or reject invites, leave rooms, set when to answer."""

    list_display = ["__str__", "room_id", "bot", "membership", "member_count", "encrypted"]
    list_display += ["answer", "rate_per_minute"]
    list_filter = ["membership", "encrypted", "answer"]
    list_editable = ["answer", "rate_per_minute"]
    search_fields = ["room_id", "name", "bot__user_id"]
    list_select_related = ["bot"]
    readonly_fields = ["bot", "room_id", "name", "membership", "inviter", "member_count"]
    readonly_fields += ["encrypted"]
    actions = ["accept", "reject", "leave"]

    def has_add_permission(self, request) -> bool:
        return False

    def _act(self, request, queryset, action: str) -> None:
        for room in queryset.select_related("bot"):
            try:
                rooms.bot_room_action(bot=room.bot, room_id=room.room_id, action=action)
            except DomainError as exc:
                self.message_user(request, f"{room.room_id}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{room.bot.user_id}: {action} {room.room_id}")

    @admin.action(description="Accept the selected invites")
    def accept(self, request, queryset):
        self._act(request, queryset.filter(membership=BotRoom.Membership.INVITE), "accept")

    @admin.action(description="Reject the selected invites")
    def reject(self, request, queryset):
        self._act(request, queryset.filter(membership=BotRoom.Membership.INVITE), "reject")

    @admin.action(description="Leave the selected rooms")
    def leave(self, request, queryset):
        self._act(request, queryset.filter(membership=BotRoom.Membership.JOIN), "leave")


@admin.register(BotAccount)
class BotAccountAdmin(admin.ModelAdmin):
    form = BotAccountForm
    inlines = [BotRoomInline]
    list_display = [
        "user_id",
        "persona",
        "status_badge",
        "pid",
        "last_heartbeat",
        "restarts",
        "enabled",
        "autostart",
        "log_link",
    ]
    list_filter = ["enabled", "autostart", "run__status"]
    search_fields = ["user_id", "persona__name", "persona__slug"]
    list_select_related = ["persona", "run"]
    actions = ["start_bots", "stop_bots", "restart_bots", "sync_profiles"]
    readonly_fields = ["run_summary", "log_link", "device"]

    def get_fieldsets(self, request, obj=None):
        main = (None, {"fields": ["persona", "homeserver", "user_id", "password", "access_token"]})
        rooms = ("Rooms", {"fields": ["rooms", "invite_policy", "invite_allowlist", "answer_bots"]})
        crypto = (
            "End-to-end encryption",
            {
                "fields": ["trust_policy", "trusted_users", "blocked_users"]
                + (["device"] if obj else [])
            },
        )
        runtime = (
            "Process",
            {"fields": ["enabled", "autostart"] + (["run_summary", "log_link"] if obj else [])},
        )
        return [main, rooms, crypto, runtime]

    # --- columns ------------------------------------------------------------------------

    def _run(self, obj: BotAccount):
        return selectors.ensure_run(obj)

    @admin.display(description="Status", ordering="run__status")
    def status_badge(self, obj: BotAccount):
        run = self._run(obj)
        label = run.status + (" (gave up)" if run.gave_up else "")
        return format_html(
            '<span style="color:#fff;background:{};padding:2px 6px;border-radius:3px" title="{}">{}</span>',
            STATUS_COLOURS.get(run.status, "#757575"),
            run.last_error,
            label,
        )

    @admin.display(description="PID")
    def pid(self, obj: BotAccount):
        return self._run(obj).pid or "—"

    @admin.display(description="Last heartbeat", ordering="run__last_heartbeat_at")
    def last_heartbeat(self, obj: BotAccount):
        return self._run(obj).last_heartbeat_at or "never"

    @admin.display(description="Restarts", ordering="run__restarts")
    def restarts(self, obj: BotAccount):
        return self._run(obj).restarts

    @admin.display(description="Log")
    def log_link(self, obj: BotAccount):
        if not obj.pk:
            return "—"
        return format_html(
            '<a href="{}">live log</a> · <a href="{}">tail</a>',
            reverse("admin:dashboard_bot_log", args=[obj.pk]),
            reverse("admin:bots_botaccount_logs", args=[obj.pk]),
        )

    @admin.display(description="Device")
    def device(self, obj: BotAccount):
        if not obj.device_id:
            return "not logged in yet"
        return format_html(
            "device <code>{}</code>, fingerprint (ed25519) <code>{}</code>",
            obj.device_id,
            _grouped(obj.device_fingerprint) or "not known until the bot has started",
        )

    @admin.display(description="Process")
    def run_summary(self, obj: BotAccount):
        run = self._run(obj)
        return format_html(
            "{} (pid {} on {}), started {}, last heartbeat {}, exit code {}, restarts {}<br>{}",
            run.status,
            run.pid or "—",
            run.host or "—",
            run.started_at or "never",
            run.last_heartbeat_at or "never",
            run.exit_code if run.exit_code is not None else "—",
            run.restarts,
            run.last_error,
        )

    # --- saving through the services -----------------------------------------------------

    def save_model(self, request, obj: BotAccount, form, change: bool) -> None:
        data = {k: v for k, v in form.cleaned_data.items() if k in form.Meta.fields}
        for secret in SECRETS:
            if not data.get(secret):
                data.pop(secret, None)
        if change:
            stored = BotAccount.objects.select_related("persona").get(pk=obj.pk)
            changes = {k: v for k, v in data.items() if k in form.changed_data or k in SECRETS}
            services.bot_update(bot=stored, **changes)
            return
        persona = data.pop("persona")
        bot = services.bot_create(persona=persona, **data)
        obj.pk = bot.pk
        obj._state.adding = False

    def delete_model(self, request, obj: BotAccount) -> None:
        services.bot_delete(bot=obj)

    def delete_queryset(self, request, queryset) -> None:
        for bot in queryset:
            services.bot_delete(bot=bot)

    # --- actions -------------------------------------------------------------------------

    def has_operate_permission(self, request) -> bool:
        """Starting and stopping processes is the operators' role (``dashboard.roles``)."""
        return request.user.has_perm("bots.operate_botaccount")

    def _act(self, request, queryset, action: str, verb: str) -> None:
        for bot in queryset.select_related("persona"):
            try:
                supervision.bot_request(bot=bot, action=action)
            except DomainError as exc:
                self.message_user(request, f"{bot.user_id}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{bot.user_id}: {verb}")

    @admin.action(description="Start selected bots", permissions=["operate"])
    def start_bots(self, request, queryset):
        self._act(request, queryset, "start", "starting")

    @admin.action(description="Stop selected bots", permissions=["operate"])
    def stop_bots(self, request, queryset):
        self._act(request, queryset, "stop", "stopping")

    @admin.action(description="Restart selected bots", permissions=["operate"])
    def restart_bots(self, request, queryset):
        self._act(request, queryset, "restart", "restarting")

    @admin.action(
        description="Sync profile (display name and avatar) of selected bots",
        permissions=["operate"],
    )
    def sync_profiles(self, request, queryset):
        for bot in queryset.select_related("persona"):
            try:
                result = services.bot_sync_profile(bot=bot)
            except Exception as exc:  # report every bot's outcome, whatever went wrong
                self.message_user(request, f"{bot.user_id}: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"{bot.user_id}: display name {result['display_name']!r}")

    # --- log view ------------------------------------------------------------------------

    def get_urls(self):
        extra = [
            path(
                "<uuid:bot_id>/logs/",
                self.admin_site.admin_view(self.logs_view),
                name="bots_botaccount_logs",
            )
        ]
        return extra + super().get_urls()

    def logs_view(self, request, bot_id):
        bot = get_object_or_404(BotAccount.objects.select_related("persona"), pk=bot_id)
        try:
            limit = max(1, min(2000, int(request.GET.get("limit", 200))))
        except ValueError:
            limit = 200
        context = {
            **self.admin_site.each_context(request),
            "bot": bot,
            "run": selectors.ensure_run(bot),
            "limit": limit,
            "lines": services.bot_logs(bot=bot, limit=limit),
            "opts": self.model._meta,
            "title": f"Log of {bot.user_id}",
        }
        return TemplateResponse(request, "admin/bots/botaccount/logs.html", context)


class RoomBridgeForm(forms.ModelForm):
    class Meta:
        model = RoomBridge
        fields = ["room", "matrix_room_id", "state"]

    def clean(self):
        data = super().clean()
        room = data.get("room")
        if room is not None and data.get("matrix_room_id"):
            for error in bridges.bridge_errors(
                room=room, matrix_room_id=data["matrix_room_id"], state=data.get("state", "")
            ):
                field = "room" if error["field"] == "room_id" else error["field"]
                self.add_error(field if field in self.fields else None, error["message"])
        return data


class BridgedEventInline(admin.TabularInline):
    """The Matrix messages fed into the room, and by which bot (the first to claim each)."""

    model = BridgedEvent
    extra = 0
    can_delete = False
    fields = ["event_id", "bot", "line_id", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RoomBridge)
class RoomBridgeAdmin(admin.ModelAdmin):
    """Persona-MCP rooms linked to Matrix rooms, with the bot of each member persona."""

    form = RoomBridgeForm
    list_display = ["__str__", "room", "matrix_room_id", "state", "member_bots", "created_at"]
    list_filter = ["state"]
    search_fields = ["matrix_room_id", "room__name"]
    list_select_related = ["room"]
    inlines = [BridgedEventInline]

    @admin.display(description="bots")
    def member_bots(self, obj: RoomBridge) -> str:
        data = bridges.bridge_data(obj)
        return ", ".join(
            f"{b['persona_slug']}: {b['user_id'] or 'no bot'}{'' if b['joined'] else ' (not in)'}"
            for b in data["bots"]
        )


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Messages the bots are sending: pending ones are retried with the same transaction id
    until the homeserver takes them."""

    list_display = ["txn_id", "bot", "room_id", "status", "attempts", "next_try_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["txn_id", "room_id", "bot__user_id", "event_id"]
    list_select_related = ["bot"]
    readonly_fields = ["bot", "room_id", "txn_id", "content", "status", "attempts"]
    readonly_fields += ["next_try_at", "last_error", "event_id", "line_id", "created_at", "sent_at"]
    actions = ["retry_now"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Retry the selected messages now")
    def retry_now(self, request, queryset):
        count = queryset.exclude(status=OutboxMessage.Status.SENT).update(
            status=OutboxMessage.Status.PENDING, next_try_at=None
        )
        self.message_user(request, f"{count} message(s) will be sent again")
