from django.urls import path

from worlds import api

urlpatterns = [
    path("world/events/", api.WorldEventView.as_view(), name="world-events"),
]
