"""The Persona-MCP admin site: Django's admin with an overview as its index."""

from __future__ import annotations

from django.contrib.admin import AdminSite


class PersonaAdminSite(AdminSite):
    site_header = "Persona-MCP"
    site_title = "Persona-MCP"
    index_title = "Overview"
    index_template = "dashboard/overview.html"

    def get_urls(self):
        from dashboard.urls import urlpatterns_for

        return urlpatterns_for(self) + super().get_urls()

    def index(self, request, extra_context=None):
        from dashboard.views import overview_context

        return super().index(
            request, extra_context={**overview_context(self, request), **(extra_context or {})}
        )
