from django.apps import AppConfig


class OpenAICompatConfig(AppConfig):
    name = "openai_compat"
    verbose_name = "OpenAI-compatible chat API"
