from django.urls import path

from openai_compat import views

urlpatterns = [
    path("models", views.models, name="openai-models"),
    path("models/<str:model>", views.models, name="openai-model"),
    path("chat/completions", views.chat_completions, name="openai-chat-completions"),
]
