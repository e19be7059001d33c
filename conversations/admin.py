"""Django admin for conversations: messages inline and a turn inspector per assistant reply."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from conversations.models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["created_at", "role", "speaker", "content", "status", "total_ms"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="total ms")
    def total_ms(self, obj: Message):
        return (obj.timings or {}).get("total_ms") or (obj.timings or {}).get("llm_ms") or "—"


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "persona",
        "participant_name",
        "participant",
        "platform",
        "message_count",
        "started_at",
        "last_message_at",
        "ended_at",
    ]
    list_filter = ["platform", "persona", ("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["participant", "participant_name", "persona__name", "persona__slug", "id"]
    list_select_related = ["persona"]
    readonly_fields = ["id", "started_at", "last_message_at", "message_count"]
    inlines = [MessageInline]


def _pre(value) -> str:
    return format_html(
        '<pre style="white-space:pre-wrap;max-width:100ch">{}</pre>',
        value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False),
    )


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The turn inspector: the exact prompt, retrieved memories with scores, and timings."""

    list_display = ["id", "conversation", "role", "speaker", "short", "status", "created_at"]
    list_filter = ["role", "status"]
    search_fields = ["content", "speaker", "conversation__id"]
    list_select_related = ["conversation__persona"]
    message_fields = ["conversation", "role", "speaker", "content", "status", "created_at"]
    inspector_fields = [
        "provider",
        "emotion",
        "prompt_tokens",
        "completion_tokens",
        "error",
        "error_code",
        "timing_table",
        "memories_table",
        "lore_table",
        "events_table",
        "agency_table",
        "prompt_view",
    ]
    readonly_fields = message_fields + inspector_fields
    exclude = ["prompt", "memories_used", "timings"]
    fieldsets = [
        (None, {"fields": message_fields}),
        ("Turn inspector", {"fields": inspector_fields}),
    ]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="content")
    def short(self, obj: Message) -> str:
        return obj.content[:80]

    @admin.display(description="Timings (ms)")
    def timing_table(self, obj: Message):
        if not obj.timings:
            return "—"
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", sorted(obj.timings.items())),
        )

    @admin.display(description="Retrieved memories")
    def memories_table(self, obj: Message):
        if not obj.memories_used:
            return "none"
        rows = [
            (m.get("id"), m.get("score"), json.dumps(m.get("scores") or {}), m.get("content", ""))
            for m in obj.memories_used
        ]
        return format_html(
            "<table><tr><th>id</th><th>score</th><th>scores</th><th>content</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="Lore entries that fired")
    def lore_table(self, obj: Message):
        used = (obj.prompt or {}).get("lore_used") or []
        if not used:
            return "none"
        from lore.models import LoreEntry

        names = {
            e.pk: str(e) for e in LoreEntry.objects.filter(pk__in=[u["entry_id"] for u in used])
        }
        rows = [
            (
                u["lorebook_id"],
                names.get(u["entry_id"], u["entry_id"]),
                ", ".join(u["keys_matched"]),
            )
            for u in used
        ]
        return format_html(
            "<table><tr><th>lorebook</th><th>entry</th><th>keys matched</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="Triggers, actions and expression")
    def agency_table(self, obj: Message):
        prompt = obj.prompt or {}
        fired = prompt.get("triggers_fired") or []
        rows = [
            ("expression", json.dumps(prompt.get("expression") or {}, ensure_ascii=False)),
            *(
                (
                    f"trigger {f.get('name')}",
                    json.dumps({"matched": f.get("matched"), "then": f.get("then")}),
                )
                for f in fired
            ),
            ("offered", ", ".join(a["name"] for a in prompt.get("actions_available") or []) or "—"),
            *(("action", json.dumps(a, ensure_ascii=False)) for a in prompt.get("actions") or []),
            *(
                (f"dropped {d.get('name')}", d.get("reason", ""))
                for d in prompt.get("actions_dropped") or []
            ),
        ]
        if prompt.get("verbatim"):
            rows.append(("reply", "a fired trigger's line, word for word (no LLM call)"))
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        )

    @admin.display(description="Recent world events in the prompt")
    def events_table(self, obj: Message):
        shown = (obj.prompt or {}).get("events") or []
        if not shown:
            return "none"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((e,) for e in shown))
        )

    @admin.display(description="Prompt sent to the LLM")
    def prompt_view(self, obj: Message):
        if not obj.prompt:
            return "—"
        messages = obj.prompt.get("messages") or []
        header = (
            f"provider {obj.prompt.get('provider')} / model {obj.prompt.get('model')}, "
            f"~{obj.prompt.get('tokens')} tokens, history {obj.prompt.get('history_included')} "
            f"in / {obj.prompt.get('history_dropped')} dropped"
        )
        return format_html(
            "<p>{}</p>{}",
            header,
            format_html_join(
                "",
                '<div><strong>{}</strong><pre style="white-space:pre-wrap;max-width:100ch">{}</pre></div>',
                ((m.get("role"), m.get("content")) for m in messages),
            ),
        )
