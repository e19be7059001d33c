from django.apps import AppConfig


class LLMConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM providers"

    def ready(self) -> None:
        from llm import provider_available, provider_info
        from personamcp import hooks

        hooks.info_sections.add("llm", provider_info)
        hooks.status_fields.add("llm_available", provider_available)
