from personamcp.routes import routes
from personas import api, relationship_api

urlpatterns = [
    *routes(
        "personas/",
        "persona",
        {
            "": api.PersonaListView,
            "import/": api.PersonaImportView,
            "<str:persona_id>/export/": api.PersonaExportView,
            "<str:persona_id>/": api.PersonaDetailView,
            "<str:persona_id>/state/": api.PersonaStateView,
            "<str:persona_id>/avatar/": api.PersonaAvatarView,
            "<str:persona_id>/relationships/": relationship_api.RelationshipListView,
        },
    ),
    *routes(
        "relationships/",
        "relationship",
        {
            "": (relationship_api.RelationshipView.as_view(), "relationship"),
            "compatibility/": relationship_api.CompatibilityView,
        },
    ),
]
