"""The dashboard's URLs, mounted by the admin site under ``/admin/dashboard/``."""

from __future__ import annotations

from functools import partial

from django.urls import path

from dashboard import views


def urlpatterns_for(site) -> list:
    guarded = partial(views.guarded, site)
    streaming = partial(views.streaming, site)
    return [
        path(
            "dashboard/stream/",
            streaming(views.TURNS_PERM)(views.stream),
            name="dashboard_stream",
        ),
        path(
            "dashboard/graph/",
            guarded(views.GRAPH_PERM)(views.graph_page),
            name="dashboard_graph",
        ),
        path(
            "dashboard/personas/<slug:slug>/",
            guarded(views.PERSONA_PERM)(views.persona_page),
            name="dashboard_persona",
        ),
        path(
            "dashboard/bots/<uuid:bot_id>/log/",
            guarded(views.BOT_PERM)(views.bot_log_page),
            name="dashboard_bot_log",
        ),
        path(
            "dashboard/bots/<uuid:bot_id>/log/stream/",
            streaming(views.BOT_PERM)(views.bot_log_stream),
            name="dashboard_bot_log_stream",
        ),
        path(
            "dashboard/bots/<uuid:bot_id>/<str:action>/",
            guarded(views.OPERATE_BOTS_PERM)(views.bot_action),
            name="dashboard_bot_action",
        ),
    ]
