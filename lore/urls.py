from lore import api
from personamcp.routes import routes

urlpatterns = routes(
    "lorebooks/",
    "lorebook",
    {
        "": api.LorebookListView,
        "import/": api.LorebookImportView,
        "<str:lorebook_id>/": api.LorebookDetailView,
        "<str:lorebook_id>/export/": api.LorebookExportView,
        "<str:lorebook_id>/attach/": api.LorebookAttachView,
        "<str:lorebook_id>/detach/": api.LorebookAttachView.as_view(detach=True),
    },
)
