from django.urls import path

from bots import api

urlpatterns = [
    path("bridges/", api.BridgeListView.as_view(), name="bridge-list"),
    path("bridges/<str:room_id>/", api.BridgeDetailView.as_view(), name="bridge-detail"),
    path("bots/", api.BotListView.as_view(), name="bot-list"),
    path("bots/<str:bot_id>/", api.BotDetailView.as_view(), name="bot-detail"),
    path(
        "bots/<str:bot_id>/start/",
        api.BotActionView.as_view(action_name="start"),
        name="bot-start",
    ),
    path("bots/<str:bot_id>/stop/", api.BotActionView.as_view(action_name="stop"), name="bot-stop"),
    path(
        "bots/<str:bot_id>/restart/",
        api.BotActionView.as_view(action_name="restart"),
        name="bot-restart",
    ),
    path("bots/<str:bot_id>/logs/", api.BotLogsView.as_view(), name="bot-logs"),
    path("bots/<str:bot_id>/rooms/", api.BotRoomsView.as_view(), name="bot-rooms"),
    path(
        "bots/<str:bot_id>/rooms/<str:room_id>/",
        api.BotRoomDetailView.as_view(),
        name="bot-room",
    ),
    path(
        "bots/<str:bot_id>/rooms/<str:room_id>/redact/",
        api.BotRedactView.as_view(),
        name="bot-room-redact",
    ),
    *[
        path(
            f"bots/<str:bot_id>/rooms/<str:room_id>/{action}/",
            api.BotRoomActionView.as_view(action_name=action),
            name=f"bot-room-{action}",
        )
        for action in ("join", "leave", "accept", "reject")
    ],
]
