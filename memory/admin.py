"""Django admin for memories: filters, semantic search, read-only embedding preview.

The search box runs ``memory_search`` (meaning, not words) when the list is filtered to one
persona, and a plain text search otherwise. Saving and deleting go through the services, so
the in-process indexes and events stay right.
"""

from __future__ import annotations

import numpy as np
from django import forms
from django.contrib import admin
from django.db.models import Case, IntegerField, When
from django.utils.html import format_html

from memory import services
from memory.models import Memory
from memory.selectors import memory_search
from personas.models import Persona


class MemoryAdminForm(forms.ModelForm):
    importance = forms.FloatField(
        required=False, min_value=0.0, max_value=1.0, help_text="0..1; empty = scored automatically"
    )

    class Meta:
        model = Memory
        fields = ["persona", "content", "kind", "importance", "visibility", "about", "metadata"]


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    form = MemoryAdminForm
    list_display = [
        "id", "short_content", "persona", "kind", "importance", "visibility", "about",
        "superseded", "access_count", "created_at",
    ]  # fmt: skip
    list_filter = ["persona", "kind", "visibility", "superseded"]
    list_select_related = ["persona"]
    search_fields = ["content", "about"]
    search_help_text = "Filter by one persona to search by meaning; otherwise searches the text."
    readonly_fields = [
        "id", "source_persona", "superseded", "superseded_by", "created_at", "last_accessed_at",
        "access_count", "embedding_preview",
    ]  # fmt: skip
    actions = ["delete_through_service"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("embedding")

    def get_fields(self, request, obj=None):
        fields = ["persona", "content", "kind", "importance", "visibility", "about", "metadata"]
        return fields + (self.readonly_fields if obj else [])

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "persona"] if obj else []

    @admin.display(description="content")
    def short_content(self, obj: Memory) -> str:
        return obj.content if len(obj.content) <= 80 else obj.content[:77] + "..."

    @admin.display(description="embedding")
    def embedding_preview(self, obj: Memory) -> str:
        row = Memory.objects.filter(pk=obj.pk).values_list("embedding", flat=True).first()
        if row is None:
            return "-"
        vector = np.asarray(row, dtype=np.float32)
        head = ", ".join(f"{x:+.3f}" for x in vector[:8])
        return format_html(
            "<code>[{}, ...]</code><br>{} dimensions, norm {}",
            head, len(vector), f"{float(np.linalg.norm(vector)):.4f}",
        )  # fmt: skip

    def get_search_results(self, request, queryset, search_term):
        persona_id = request.GET.get("persona__id__exact")
        if search_term and persona_id:
            persona = Persona.objects.filter(id=persona_id).first()
            if persona is not None:
                found = memory_search(persona=persona, query=search_term, limit=50, touch=False)
                ids = [s.memory.id for s in found]
                order = Case(
                    *[When(id=pk, then=pos) for pos, pk in enumerate(ids)],
                    output_field=IntegerField(),
                )
                return queryset.filter(id__in=ids).order_by(order), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = services.memory_update(
                memory=obj,
                content=data["content"],
                kind=data["kind"],
                importance=data["importance"] if data["importance"] is not None else obj.importance,
                visibility=data["visibility"],
                about=data["about"] or "",
                metadata=data["metadata"] or {},
            )
        else:
            saved = services.memory_store(
                persona=data["persona"],
                content=data["content"],
                kind=data["kind"],
                importance=data["importance"],
                visibility=data["visibility"],
                about=data["about"] or "",
                metadata=data["metadata"] or {},
            )
        obj.pk = saved.pk
        obj.id = saved.id

    def delete_model(self, request, obj):
        services.memory_delete(memory=obj)

    def delete_queryset(self, request, queryset):
        for memory in queryset:
            services.memory_delete(memory=memory)

    @admin.action(description="Delete selected memories")
    def delete_through_service(self, request, queryset):
        count = 0
        for memory in queryset:
            services.memory_delete(memory=memory)
            count += 1
        self.message_user(request, f"Deleted {count} memories.")
