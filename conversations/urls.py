from conversations import api
from personamcp.routes import routes

urlpatterns = routes(
    "conversations/",
    "conversation",
    {
        "": api.ConversationListView,
        "messages/": (api.SendMessageView.as_view(), "conversation-send-message"),
        "<str:conversation_id>/": api.ConversationDetailView,
        "<str:conversation_id>/messages/": api.ConversationMessagesView,
        "<str:conversation_id>/end/": api.ConversationEndView,
    },
)
