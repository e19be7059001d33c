"""The dashboard's URLs, mounted by the admin site under ``/admin/dashboard/``."""

from __future__ import annotations

from functools import partial

from django.urls import path

from dashboard import views


def urlpatterns_for(site) -> list:
    guarded = partial(views.guarded, site)
    streaming = partial(views.streaming, site)
    bot = "bots/<uuid:bot_id>/"
    # URL name (``dashboard_<name>``): route under dashboard/, the view behind its permission.
    pages = {
        "stream": ("stream/", streaming(views.TURNS_PERM)(views.stream)),
        "graph": ("graph/", guarded(views.GRAPH_PERM)(views.graph_page)),
        "persona": ("personas/<slug:slug>/", guarded(views.PERSONA_PERM)(views.persona_page)),
        "bot_log": (f"{bot}log/", guarded(views.BOT_PERM)(views.bot_log_page)),
        "bot_log_stream": (f"{bot}log/stream/", streaming(views.BOT_PERM)(views.bot_log_stream)),
        "bot_action": (f"{bot}<str:action>/", guarded(views.OPERATE_BOTS_PERM)(views.bot_action)),
    }
    return [
        path(f"dashboard/{route}", view, name=f"dashboard_{name}")
        for name, (route, view) in pages.items()
    ]
