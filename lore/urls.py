from django.urls import path

from lore import api

urlpatterns = [
    path("lorebooks/", api.LorebookListView.as_view(), name="lorebook-list"),
    path("lorebooks/import/", api.LorebookImportView.as_view(), name="lorebook-import"),
    path("lorebooks/<str:lorebook_id>/", api.LorebookDetailView.as_view(), name="lorebook-detail"),
    path(
        "lorebooks/<str:lorebook_id>/export/",
        api.LorebookExportView.as_view(),
        name="lorebook-export",
    ),
    path(
        "lorebooks/<str:lorebook_id>/attach/",
        api.LorebookAttachView.as_view(),
        name="lorebook-attach",
    ),
    path(
        "lorebooks/<str:lorebook_id>/detach/",
        api.LorebookAttachView.as_view(detach=True),
        name="lorebook-detach",
    ),
]
