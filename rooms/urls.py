from django.urls import path

from rooms import api

urlpatterns = [
    path("rooms/", api.RoomListView.as_view(), name="room-list"),
    path("rooms/<str:room_id>/", api.RoomDetailView.as_view(), name="room-detail"),
    path("rooms/<str:room_id>/messages/", api.RoomMessagesView.as_view(), name="room-messages"),
    path("rooms/<str:room_id>/step/", api.RoomStepView.as_view(), name="room-step"),
    path("rooms/<str:room_id>/close/", api.RoomCloseView.as_view(), name="room-close"),
    path("rooms/<str:room_id>/move/", api.SceneMoveView.as_view(), name="room-move"),
    path("rooms/<str:room_id>/state/", api.RoomStateView.as_view(), name="room-state"),
]
