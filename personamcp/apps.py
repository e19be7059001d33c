import logging

from django.apps import AppConfig
from django.conf import settings

log = logging.getLogger("personamcp")


class PersonaMCPConfig(AppConfig):
    name = "personamcp"
    verbose_name = "Persona-MCP"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from personamcp import security  # noqa: F401  (registers the deploy checks)
        from personamcp.rpc import registry

        # Every app's ``exceptions`` module: their rows in the error table before any request.
        autodiscover_modules("exceptions")
        registry.autodiscover()
        if settings.DEV_MODE:
            log.warning(
                "PERSONAMCP_DEV_MODE=1: LOCAL DEVELOPMENT MODE. Anonymous clients may use /api "
                "and /mcp with full access. Never expose this server to a network."
            )
