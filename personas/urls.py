from django.urls import path

from personas import api, relationship_api

urlpatterns = [
    path("personas/", api.PersonaListView.as_view(), name="persona-list"),
    path("personas/import/", api.PersonaImportView.as_view(), name="persona-import"),
    path(
        "personas/<str:persona_id>/export/", api.PersonaExportView.as_view(), name="persona-export"
    ),
    path("personas/<str:persona_id>/", api.PersonaDetailView.as_view(), name="persona-detail"),
    path("personas/<str:persona_id>/state/", api.PersonaStateView.as_view(), name="persona-state"),
    path(
        "personas/<str:persona_id>/avatar/", api.PersonaAvatarView.as_view(), name="persona-avatar"
    ),
    path(
        "personas/<str:persona_id>/relationships/",
        relationship_api.RelationshipListView.as_view(),
        name="persona-relationships",
    ),
    path("relationships/", relationship_api.RelationshipView.as_view(), name="relationship"),
    path(
        "relationships/compatibility/",
        relationship_api.CompatibilityView.as_view(),
        name="relationship-compatibility",
    ),
]
