from django.apps import AppConfig


class PersonasConfig(AppConfig):
    name = "personas"
    verbose_name = "Personas"

    def ready(self) -> None:
        from personamcp import hooks
        from personas import (
            selectors,
            signals,  # noqa: F401  (events on admin/shell edits)
        )
        from personas.cards import persona_card_text
        from personas.rpc import detail

        hooks.persona_lookup.provide(selectors.persona_for_call)
        hooks.persona_directory.provide(selectors.persona_directory)
        hooks.persona_document.provide(detail)
        hooks.persona_card_text.provide(persona_card_text)
        hooks.status_fields.add("personas", selectors.persona_count)
