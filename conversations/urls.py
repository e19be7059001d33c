from django.urls import path

from conversations import api, room_api

urlpatterns = [
    path("conversations/", api.ConversationListView.as_view(), name="conversation-list"),
    path(
        "conversations/messages/", api.SendMessageView.as_view(), name="conversation-send-message"
    ),
    path(
        "conversations/<str:conversation_id>/",
        api.ConversationDetailView.as_view(),
        name="conversation-detail",
    ),
    path(
        "conversations/<str:conversation_id>/messages/",
        api.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<str:conversation_id>/end/",
        api.ConversationEndView.as_view(),
        name="conversation-end",
    ),
    path("rooms/", room_api.RoomListView.as_view(), name="room-list"),
    path("rooms/<str:room_id>/", room_api.RoomDetailView.as_view(), name="room-detail"),
    path(
        "rooms/<str:room_id>/messages/", room_api.RoomMessagesView.as_view(), name="room-messages"
    ),
    path("rooms/<str:room_id>/step/", room_api.RoomStepView.as_view(), name="room-step"),
    path("rooms/<str:room_id>/close/", room_api.RoomCloseView.as_view(), name="room-close"),
]
