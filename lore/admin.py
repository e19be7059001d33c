"""Django admin for lorebooks: entries inline, World Info import/export, a "test this text" box."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from lore import services
from lore.models import Lorebook, LorebookRoom, LoreEntry
from personamcp.exceptions import ValidationFailed


class LoreEntryInline(admin.StackedInline):
    model = LoreEntry
    extra = 0
    fields = [
        ("keys", "secondary_keys"),
        "content",
        ("enabled", "constant", "selective", "case_sensitive", "use_regex"),
        ("insertion_order", "priority", "position"),
        ("name", "comment"),
        "extensions",
        "uid",
    ]


class LorebookRoomInline(admin.TabularInline):
    model = LorebookRoom
    extra = 0


class TestForm(forms.Form):
    history = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 100}),
        help_text="Earlier messages, one per line (oldest first).",
    )
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 100}))


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A SillyTavern World Info .json or a character_book .json")
    name = forms.CharField(required=False, max_length=200)


@admin.register(Lorebook)
class LorebookAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "entry_count", "recursive_scanning", "updated_at"]
    search_fields = ["name", "description"]
    filter_horizontal = ["personas"]
    readonly_fields = ["test_link", "created_at", "updated_at"]
    fields = [
        "name",
        "description",
        ("scan_depth", "token_budget", "recursive_scanning"),
        "extensions",
        "owner",
        "personas",
        "test_link",
        ("created_at", "updated_at"),
    ]
    inlines = [LoreEntryInline, LorebookRoomInline]
    actions = ["export_worldinfo"]
    change_list_template = "admin/lore/lorebook/change_list.html"

    @admin.display(description="entries")
    def entry_count(self, obj: Lorebook) -> int:
        return obj.entries.count()

    @admin.display(description="Test")
    def test_link(self, obj: Lorebook):
        if not obj.pk:
            return "save the lorebook first"
        url = reverse("admin:lore_lorebook_test", args=[obj.pk])
        return format_html('<a href="{}">Test this text: which entries fire and why</a>', url)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services._forget(form.instance.pk)

    @admin.action(description="Export selected as World Info (.json)")
    def export_worldinfo(self, request, queryset):
        books = list(queryset)
        if len(books) != 1:
            self.message_user(request, "select exactly one lorebook to export", messages.ERROR)
            return None
        data = services.lorebook_export(lorebook=books[0], fmt="worldinfo")
        response = HttpResponse(
            json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="{books[0].name}.json"'
        return response

    def get_urls(self):
        extra = [
            path(
                "<uuid:lorebook_id>/test/",
                self.admin_site.admin_view(self.test_view),
                name="lore_lorebook_test",
            ),
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="lore_lorebook_import",
            ),
        ]
        return extra + super().get_urls()

    def test_view(self, request, lorebook_id):
        lorebook = get_object_or_404(Lorebook, pk=lorebook_id)
        form = TestForm(request.POST or None)
        result = None
        error = None
        if request.method == "POST" and form.is_valid():
            history = [h for h in form.cleaned_data["history"].splitlines() if h.strip()]
            try:
                result = services.lorebook_test(
                    lorebook=lorebook, text=form.cleaned_data["text"], history=history
                )
            except Exception as exc:  # a stored entry that no longer compiles: show it
                error = str(exc)
        names = {e.pk: str(e) for e in lorebook.entries.all()}
        if result:
            for row in [*result["activated"], *result["dropped"]]:
                row["label"] = names.get(row["entry_id"], row["entry_id"])
        context = {
            **self.admin_site.each_context(request),
            "lorebook": lorebook,
            "form": form,
            "result": result,
            "error": error,
            "opts": self.model._meta,
            "title": f"Test {lorebook.name}",
        }
        return TemplateResponse(request, "admin/lore/lorebook/test.html", context)

    def import_view(self, request):
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                data = json.loads(upload.read(20 * 1024 * 1024 + 1))
                book = services.lorebook_import(
                    data=data, name=form.cleaned_data["name"] or upload.name.rsplit(".", 1)[0]
                )
            except ValueError:
                form.add_error("file", "not a JSON file")
            except ValidationFailed as exc:
                for err in exc.errors:
                    form.add_error("file", f"{err['field']}: {err['message']}")
            else:
                self.message_user(request, f"imported {book.name} ({book.entries.count()} entries)")
                return HttpResponseRedirect(reverse("admin:lore_lorebook_change", args=[book.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "opts": self.model._meta,
            "title": "Import World Info",
        }
        return TemplateResponse(request, "admin/lore/lorebook/import.html", context)
