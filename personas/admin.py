"""Django admin for personas: list, search, tag filter, avatar upload with preview."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from personas import services
from personas.card_admin import CardAdminMixin
from personas.models import TRAITS, Persona, PersonaState, Relationship, Tag


class PersonaAdminForm(forms.ModelForm):
    tag_names = forms.CharField(
        required=False, label="Tags", help_text="Comma-separated, e.g. fantasy, tavern"
    )

    class Meta:
        model = Persona
        fields = [
            "name",
            "slug",
            "description",
            "avatar",
            *TRAITS,
            "speaking_style",
            "greeting",
            "system_prompt",
            "background",
            "goals",
            "interests",
            "extra",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tag_names"].initial = ", ".join(t.name for t in self.instance.tags.all())

    def clean_tag_names(self) -> list[str]:
        names = [t.strip() for t in self.cleaned_data["tag_names"].split(",") if t.strip()]
        too_long = [t for t in names if len(t) > 40]
        if too_long:
            raise forms.ValidationError(f"tags longer than 40 characters: {', '.join(too_long)}")
        return names


class PersonaStateInline(admin.StackedInline):
    model = PersonaState
    can_delete = False
    extra = 0
    fields = ["mood", "emotion", "energy", "social_battery", "stress", "updated_at"]
    readonly_fields = ["updated_at"]


@admin.register(Persona)
class PersonaAdmin(CardAdminMixin, admin.ModelAdmin):
    form = PersonaAdminForm
    list_display = ["avatar_thumb", "name", "slug", "tag_list", "updated_at"]
    list_display_links = ["avatar_thumb", "name"]
    search_fields = ["name", "slug", "description"]
    list_filter = ["tags"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["id", "avatar_preview", "created_at", "updated_at"]
    inlines = [PersonaStateInline]
    fieldsets = [
        (None, {"fields": ["id", "name", "slug", "description", "tag_names"]}),
        ("Avatar", {"fields": ["avatar", "avatar_preview"]}),
        ("Personality (Big Five, 0..1)", {"fields": list(TRAITS)}),
        ("Voice", {"fields": ["speaking_style", "greeting", "system_prompt"]}),
        ("Story", {"fields": ["background", "goals", "interests"]}),
        ("Imported card fields", {"fields": ["extra"], "classes": ["collapse"]}),
        ("Timestamps", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tags")

    @admin.display(description="")
    def avatar_thumb(self, obj: Persona):
        if not obj.avatar:
            return "—"
        return format_html('<img src="{}" style="height:32px;border-radius:50%">', obj.avatar.url)

    @admin.display(description="Preview")
    def avatar_preview(self, obj: Persona):
        if not obj.avatar:
            return "no avatar"
        return format_html('<img src="{}" style="max-height:160px">', obj.avatar.url)

    @admin.display(description="Tags")
    def tag_list(self, obj: Persona) -> str:
        return ", ".join(t.name for t in obj.tags.all())

    def save_model(self, request, obj: Persona, form, change: bool) -> None:
        data = {
            f: form.cleaned_data[f]
            for f in form.cleaned_data
            if f not in ("tag_names", "avatar", "slug", "name", *TRAITS, "extra")
        }
        personality = {t: form.cleaned_data[t] for t in TRAITS if t in form.cleaned_data}
        tags = form.cleaned_data.get("tag_names", [])
        if change:
            # ``obj`` already carries the form's values; the service diffs against the stored row.
            obj = Persona.objects.get(pk=obj.pk)
            services.persona_update(
                persona=obj,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                personality=personality,
                tags=tags,
                extra=form.cleaned_data.get("extra"),
                **data,
            )
            if "avatar" in form.changed_data:
                services.persona_set_avatar(persona=obj, avatar=form.cleaned_data["avatar"] or None)
        else:
            created = services.persona_create(
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                personality=personality,
                tags=tags,
                avatar=form.cleaned_data.get("avatar") or None,
                extra=form.cleaned_data.get("extra") or {},
                **data,
            )
            obj.pk = created.pk
            obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # Tags are set by the service; only the state inline is saved here.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj: Persona) -> None:
        services.persona_delete(persona=obj)

    def delete_queryset(self, request, queryset) -> None:
        for persona in queryset:
            services.persona_delete(persona=persona)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Relationship)
class RelationshipAdmin(admin.ModelAdmin):
    list_display = [
        "persona",
        "other_name",
        "other_id",
        "other_kind",
        "stage",
        "affinity",
        "trust",
        "interactions",
        "last_interaction_at",
    ]
    list_filter = ["stage", "other_kind", "persona"]
    search_fields = ["other_id", "other_name", "persona__name", "persona__slug"]
    list_select_related = ["persona"]
