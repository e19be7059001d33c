from django.urls import path

from memory import api
from personamcp.routes import routes

urlpatterns = [
    *routes(
        "memory/",
        "memory",
        {
            "": api.MemoryListView,
            "search/": api.MemorySearchView,
            "stats/": api.MemoryStatsView,
            "reflect/": api.MemoryReflectView,
            "<int:memory_id>/": api.MemoryDetailView,
        },
    ),
    # PROTOCOL writes the search URL without a trailing slash; both forms answer directly.
    path("memory/search", api.MemorySearchView.as_view(), name="memory-search-noslash"),
]
