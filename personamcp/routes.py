"""The API's URL groups, declared as tables: ``{suffix: view}`` under one prefix.

``routes("rooms/", "room", {"": api.RoomListView, "<str:room_id>/": api.RoomDetailView, ...})``
is one ``path()`` per row, at ``prefix + suffix``, named ``<name>-<label>``: ``list`` for the
empty suffix, ``detail`` for a bare ``<converter:name>/``, else the suffix's last literal segment
(``"<str:room_id>/messages/"`` is ``room-messages``). A row's view is an ``APIView`` class (its
``as_view()`` is used) or a view already made (``View.as_view(detach=True)``); a row whose name
does not follow the rule says it: ``suffix: (view, "its-name")``.
"""

from __future__ import annotations

from django.urls import URLPattern, path


def _label(suffix: str) -> str:
    literal = [s for s in suffix.split("/") if s and not s.startswith("<")]
    if not suffix:
        return "list"
    return literal[-1] if literal else "detail"


def routes(prefix: str, name: str, table: dict) -> list[URLPattern]:
    patterns = []
    for suffix, row in table.items():
        view, url_name = row if isinstance(row, tuple) else (row, f"{name}-{_label(suffix)}")
        if isinstance(view, type):
            view = view.as_view()
        patterns.append(path(prefix + suffix, view, name=url_name))
    return patterns
