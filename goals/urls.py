from django.urls import path

from goals import api

urlpatterns = [
    path("triggers/", api.TriggerListView.as_view(), name="trigger-list"),
    path("triggers/<str:trigger_id>/", api.TriggerDetailView.as_view(), name="trigger-detail"),
    path("goals/", api.GoalListView.as_view(), name="goal-list"),
    path("goals/complete/", api.GoalCompleteView.as_view(), name="goal-complete"),
]
