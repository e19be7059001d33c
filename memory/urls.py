from django.urls import path

from memory import api

urlpatterns = [
    path("memory/", api.MemoryListView.as_view(), name="memory-list"),
    # PROTOCOL writes the search URL without a trailing slash; both forms answer directly.
    path("memory/search", api.MemorySearchView.as_view(), name="memory-search-noslash"),
    path("memory/search/", api.MemorySearchView.as_view(), name="memory-search"),
    path("memory/stats/", api.MemoryStatsView.as_view(), name="memory-stats"),
    path("memory/reflect/", api.MemoryReflectView.as_view(), name="memory-reflect"),
    path("memory/<int:memory_id>/", api.MemoryDetailView.as_view(), name="memory-detail"),
]
