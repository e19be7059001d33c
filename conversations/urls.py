from django.urls import path

from conversations import api

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
]
