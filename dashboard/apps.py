"""The operations dashboard: the admin site's overview, persona pages, graphs, live logs, roles."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class PersonaAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the Persona-MCP site (overview index and the dashboard pages)."""

    default = False
    default_site = "dashboard.sites.PersonaAdminSite"


class DashboardConfig(AppConfig):
    default = True
    name = "dashboard"
    verbose_name = "Dashboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard import roles, signals  # noqa: F401  (signal receivers)
        from personamcp import hooks

        hooks.session_scope.provide(roles.session_scope)

        # After each app's permissions exist, grant the roles theirs: covers apps installed
        # after the roles migration ran (lorebooks, the audit log, anything later).
        post_migrate.connect(roles.on_post_migrate, dispatch_uid="dashboard_roles")
