"""The audit log in the admin: filterable, searchable, exportable as CSV, never editable."""

from __future__ import annotations

import csv
import json

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from audit.models import AuditEntry

CSV_COLUMNS = (
    "at",
    "door",
    "actor_kind",
    "actor",
    "user_id",
    "api_key_id",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "correlation_id",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(queryset):
    """The header and one CSV line per entry (streamed; ``changes`` as JSON)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for entry in queryset.iterator(chunk_size=1000):
        values = []
        for column in CSV_COLUMNS:
            value = getattr(entry, column)
            if column == "changes":
                value = json.dumps(value, ensure_ascii=False, sort_keys=True)
            elif column == "at":
                value = value.isoformat()
            text = "" if value is None else str(value)
            if text[:1] in ("=", "+", "-", "@", "\t", "\r"):  # no formulas in spreadsheets
                text = "'" + text
            values.append(text)
        yield writer.writerow(values)


def csv_response(queryset) -> StreamingHttpResponse:
    name = f"audit-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(csv_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "door", "actor", "action", "object_type", "object_repr", "changed"]
    list_filter = ["door", "action", "object_type", "actor_kind", "at"]
    search_fields = ["actor", "object_repr", "object_id", "correlation_id"]
    date_hierarchy = "at"
    list_per_page = 100
    actions = ["export_selected"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    @admin.display(description="Changed fields")
    def changed(self, obj: AuditEntry) -> str:
        return ", ".join(sorted(obj.changes)) if isinstance(obj.changes, dict) else ""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Export selected entries as CSV")
    def export_selected(self, request, queryset):
        return csv_response(queryset)

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_view)
        return [path("export/", export, name="audit_auditentry_export"), *super().get_urls()]

    def export_view(self, request):
        """``/admin/audit/auditentry/export/?<the changelist's filters>``: every matching row."""
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return csv_response(changelist.get_queryset(request))
