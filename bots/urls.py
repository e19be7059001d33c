from bots import api
from personamcp.routes import routes

ROOM = "<str:bot_id>/rooms/<str:room_id>/"

urlpatterns = [
    *routes("bridges/", "bridge", {"": api.BridgeListView, "<str:room_id>/": api.BridgeDetailView}),
    *routes(
        "bots/",
        "bot",
        {
            "": api.BotListView,
            "<str:bot_id>/": api.BotDetailView,
            **{
                f"<str:bot_id>/{action}/": api.BotActionView.as_view(action_name=action)
                for action in ("start", "stop", "restart")
            },
            "<str:bot_id>/logs/": api.BotLogsView,
            "<str:bot_id>/rooms/": api.BotRoomsView,
            ROOM: (api.BotRoomDetailView.as_view(), "bot-room"),
            f"{ROOM}redact/": (api.BotRedactView.as_view(), "bot-room-redact"),
            **{
                f"{ROOM}{action}/": (
                    api.BotRoomActionView.as_view(action_name=action),
                    f"bot-room-{action}",
                )
                for action in ("join", "leave", "accept", "reject")
            },
        },
    ),
]
