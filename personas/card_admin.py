"""Character cards in the persona admin: an upload form and export actions."""

from __future__ import annotations

import io
import json
import zipfile

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from personamcp.exceptions import ValidationFailed
from personas import cards, services

MAX_UPLOAD = 16 * 1024 * 1024


class CardUploadForm(forms.Form):
    file = forms.FileField(help_text="A character card: .png, .charx or .json (V1, V2 or V3)")


def _download(name: str, raw: bytes, media_type: str) -> HttpResponse:
    response = HttpResponse(raw, content_type=media_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class CardAdminMixin:
    """Mixed into ``PersonaAdmin``: "Import card" on the list, export actions."""

    change_list_template = "admin/personas/persona/card_change_list.html"
    actions = ["export_card_png", "export_card_charx", "export_card_json_v2"]

    def _export(self, request, queryset, ext: str, media_type: str, make):
        personas = list(queryset)
        if len(personas) == 1:
            return _download(f"{personas[0].slug}.{ext}", make(personas[0]), media_type)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for persona in personas:
                archive.writestr(f"{persona.slug}.{ext}", make(persona))
        return _download("cards.zip", out.getvalue(), "application/zip")

    @admin.action(description="Export selected as card PNG (V2 + V3 chunks)")
    def export_card_png(self, request, queryset):
        return self._export(request, queryset, "png", "image/png", cards.persona_card_png)

    @admin.action(description="Export selected as CHARX (V3 with assets)")
    def export_card_charx(self, request, queryset):
        return self._export(request, queryset, "charx", "application/zip", cards.persona_card_charx)

    @admin.action(description="Export selected as Character Card V2 JSON")
    def export_card_json_v2(self, request, queryset):
        def make(persona):
            card = cards.persona_to_card(persona, fmt="ccv2")
            return json.dumps(card, ensure_ascii=False, indent=2).encode()

        return self._export(request, queryset, "json", "application/json", make)

    def get_urls(self):
        extra = [
            path(
                "import-card/",
                self.admin_site.admin_view(self.import_card_view),
                name="personas_persona_import_card",
            )
        ]
        return extra + super().get_urls()

    def import_card_view(self, request):
        form = CardUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > MAX_UPLOAD:
                    raise ValidationFailed([{"field": "file", "message": "larger than 16 MiB"}])
                kind, value = cards.sniff(upload.read(), field="file")
                persona = services.persona_import(**{kind: value}, field="file")
            except ValidationFailed as exc:
                for err in exc.errors:
                    form.add_error("file", f"{err['field']}: {err['message']}")
            else:
                self.message_user(request, f"imported {persona.name}", messages.SUCCESS)
                url = reverse("admin:personas_persona_change", args=[persona.pk])
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "opts": self.model._meta,
            "title": "Import a character card",
        }
        return TemplateResponse(request, "admin/personas/persona/import_card.html", context)
