from django.urls import path

from personas import api

urlpatterns = [
    path("personas/", api.PersonaListView.as_view(), name="persona-list"),
    path("personas/<str:persona_id>/", api.PersonaDetailView.as_view(), name="persona-detail"),
    path("personas/<str:persona_id>/state/", api.PersonaStateView.as_view(), name="persona-state"),
    path("personas/<str:persona_id>/avatar/", api.PersonaAvatarView.as_view(), name="persona-avatar"),
]
