from personamcp.routes import routes
from rooms import api

urlpatterns = routes(
    "rooms/",
    "room",
    {
        "": api.RoomListView,
        "<str:room_id>/": api.RoomDetailView,
        "<str:room_id>/messages/": api.RoomMessagesView,
        "<str:room_id>/step/": api.RoomStepView,
        "<str:room_id>/close/": api.RoomCloseView,
        "<str:room_id>/move/": api.SceneMoveView,
        "<str:room_id>/state/": api.RoomStateView,
    },
)
