"""The dashboard's pages inside the admin site: overview, persona pages, the relationship graph,
live bot logs, bot start/stop, and the server-sent event streams that keep them live.

Each page needs a permission (see ``dashboard.roles``); without it the answer is 403.
"""

from __future__ import annotations

import asyncio
import json
import time
from functools import wraps

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from bots import services as bot_services
from bots import supervision
from bots.models import BotAccount
from dashboard import charts, logs, selectors
from dashboard.roles import OPERATE_BOTS_PERM, role_names
from personamcp import events
from personamcp.exceptions import DomainError
from personas.models import Persona

TURNS_PERM = "conversations.view_message"
PERSONA_PERM = "personas.view_persona"
GRAPH_PERM = "personas.view_relationship"
BOT_PERM = "bots.view_botaccount"
LIVE_EVERY = 3.0  # seconds between overview refreshes on the stream
LOG_POLL = 0.2  # seconds between looks at a followed log file
HEARTBEAT = 15.0


def guarded(site, perm: str):
    """An admin view (login for anonymous users) that answers 403 without ``perm``."""

    def decorator(view):
        @wraps(view)
        def inner(request, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise PermissionDenied
            return view(site, request, *args, **kwargs)

        return site.admin_view(inner)

    return decorator


def streaming(site, perm: str):
    """The same for the async event streams."""

    def decorator(view):
        @wraps(view)
        async def inner(request, *args, **kwargs):
            user = await request.auser()
            if not (user.is_active and user.is_staff):
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            if not await sync_to_async(user.has_perm)(perm):
                raise PermissionDenied
            return await view(site, request, *args, **kwargs)

        return inner

    return decorator


def _context(site, request, **extra) -> dict:
    return {**site.each_context(request), "roles": role_names(request.user), **extra}


def _window(request) -> str:
    window = request.GET.get("window", "hour")
    return window if window in selectors.WINDOWS else "hour"


# --- overview -----------------------------------------------------------------------------


def _label(bucket_start, window: str) -> str:
    return bucket_start.strftime("%H:%M")


def _latency_chart(kind: str, title: str, labels: list[str], buckets: list[dict]):
    return charts.line_chart(
        chart_id=f"chart-{kind}-latency",
        title=title,
        labels=labels,
        series=[(p, f"s-{p}", [x[f"{kind}_{p}"] for x in buckets]) for p in ("p95", "p50")],
        unit="ms",
    )


def overview_charts(stats: dict) -> dict:
    window = stats["window"]
    labels = [_label(b["start"], window) for b in stats["buckets"]]
    b = stats["buckets"]
    return {
        "turns": charts.bar_chart(
            chart_id="chart-turns",
            title="Turns per minute",
            labels=labels,
            values=[x["per_minute"] for x in b],
            unit="turns/min",
        ),
        "platform": _latency_chart("platform", "Platform latency (total minus LLM), ms", labels, b),
        "llm": _latency_chart("llm", "LLM latency, ms", labels, b),
        "tokens": charts.stacked_bars(
            chart_id="chart-tokens",
            title="LLM tokens per persona",
            rows=[
                (
                    t["persona"],
                    [
                        ("prompt", "s-prompt", t["prompt"]),
                        ("completion", "s-completion", t["completion"]),
                    ],
                )
                for t in stats["tokens"]
            ],
        ),
    }


def overview_live(request, window: str) -> dict:
    stats = selectors.turn_stats(window)
    return {
        "counters": selectors.live_counters(),
        "stats": stats,
        "charts": overview_charts(stats),
        "window": window,
    }


def overview_context(site, request) -> dict:
    """Extra context of the admin index (the overview)."""
    if not request.user.has_perm(TURNS_PERM):
        return {"can_view_turns": False}
    window = _window(request)
    return {
        "can_view_turns": True,
        "roles": role_names(request.user),
        "personas": list(Persona.objects.select_related("state")),
        **overview_live(request, window),
    }


# --- persona pages and the graph ------------------------------------------------------------


def _persona_link(node: dict) -> str | None:
    if node.get("slug"):
        return reverse("admin:dashboard_persona", args=[node["slug"]])
    return None


def persona_page(site, request, slug: str):
    persona = get_object_or_404(Persona.objects.select_related("state"), slug=slug)
    data = selectors.persona_page(persona=persona)
    samples = data["samples"]
    labels = [s["at"].strftime("%d %b %H:%M") for s in samples]
    graph = selectors.relationship_graph(persona=persona)
    context = _context(
        site,
        request,
        title=persona.name,
        persona=persona,
        state=getattr(persona, "state", None),
        mood_chart=charts.line_chart(
            chart_id="chart-mood",
            title=f"Mood and energy of {persona.name}",
            labels=labels,
            series=[
                ("mood", "s-mood", [s["mood"] for s in samples]),
                ("energy", "s-energy", [s["energy"] for s in samples]),
            ],
            unit="",
            max_value=1.0,
            min_value=-1.0,
        ),
        graph=charts.graph(
            chart_id="graph-persona",
            title=f"Relationships of {persona.name}",
            nodes=graph["nodes"],
            edges=graph["edges"],
            center=str(persona.id),
            link=_persona_link,
            size=560,
        ),
        can_edit=request.user.has_perm("personas.change_persona"),
        can_operate=request.user.has_perm(OPERATE_BOTS_PERM),
        can_view_bots=request.user.has_perm(BOT_PERM),
        stream_url=reverse("admin:dashboard_stream") + "?parts=bots",
        **data,
    )
    return TemplateResponse(request, "dashboard/persona.html", context)


def graph_page(site, request):
    graph = selectors.relationship_graph()
    labels = {n["id"]: n["label"] for n in graph["nodes"]}
    context = _context(
        site,
        request,
        title="Relationships",
        graph=charts.graph(
            chart_id="graph-all",
            title="Relationships between personas and participants",
            nodes=graph["nodes"],
            edges=graph["edges"],
            link=_persona_link,
            size=760,
        ),
        edges=[
            {**e, "source_label": labels[e["source"]], "target_label": labels[e["target"]]}
            for e in graph["edges"]
        ],
    )
    return TemplateResponse(request, "dashboard/graph.html", context)


# --- bots: live log, start/stop ---------------------------------------------------------------


def bot_log_page(site, request, bot_id):
    bot = get_object_or_404(BotAccount.objects.select_related("persona", "run"), pk=bot_id)
    context = _context(
        site,
        request,
        title=f"Live log of {bot.user_id}",
        bot=bot,
        run=getattr(bot, "run", None),
        levels=list(logs.LEVELS),
        level=request.GET.get("level", ""),
        query=request.GET.get("q", ""),
        can_operate=request.user.has_perm(OPERATE_BOTS_PERM),
        log_stream=reverse("admin:dashboard_bot_log_stream", args=[bot.pk]),
        stream_url=reverse("admin:dashboard_stream") + "?parts=bots",
    )
    return TemplateResponse(request, "dashboard/bot_log.html", context)


def bot_action(site, request, bot_id, action: str):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if action not in {"start", "stop", "restart"}:
        raise Http404
    bot = get_object_or_404(BotAccount.objects.select_related("persona"), pk=bot_id)
    try:
        supervision.bot_request(bot=bot, action=action)
        messages.success(request, f"{bot.user_id}: {action} requested")
    except DomainError as exc:
        messages.error(request, f"{bot.user_id}: {exc.message}")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = reverse("admin:dashboard_bot_log", args=[bot.pk])
    return HttpResponseRedirect(target)


# --- event streams --------------------------------------------------------------------------


def sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def _stream_response(generator) -> StreamingHttpResponse:
    response = StreamingHttpResponse(generator, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on at once
    return response


async def stream(site, request):
    """Live updates: ``overview`` (counters and charts, re-rendered every few seconds) and
    ``bot`` (each bot status change, from the channel layer's event groups)."""
    parts = set(request.GET.get("parts", "overview,bots").split(","))
    window = _window(request)
    user = await request.auser()
    can_bots = await sync_to_async(user.has_perm)(BOT_PERM)
    events.bind_server_loop(asyncio.get_running_loop())

    def render_overview() -> str:
        request.user = user
        return render_to_string(
            "dashboard/_overview_live.html", overview_live(request, window), request=request
        )

    async def generate():
        layer = get_channel_layer()
        channel = await layer.new_channel() if layer is not None else None
        groups = [events.group_for("bot.*")] if ("bots" in parts and can_bots and channel) else []
        for group in groups:
            await layer.group_add(group, channel)
        try:
            yield "retry: 2000\n\n"
            next_overview = time.monotonic() + LIVE_EVERY
            last_sent = time.monotonic()
            while True:
                now = time.monotonic()
                wait = max(0.05, min(next_overview - now, HEARTBEAT))
                message = None
                if groups:
                    try:
                        message = await asyncio.wait_for(layer.receive(channel), wait)
                    except TimeoutError:
                        pass
                else:
                    await asyncio.sleep(wait)
                if message and message.get("type") == events.HANDLER_TYPE:
                    event = message["event"]
                    if event["type"] == events.BOT_STATUS_CHANGED:
                        data = event["data"]
                        yield sse("bot", {k: data.get(k) for k in ("id", "status", "pid",
                                                                   "last_error", "gave_up")})  # fmt: skip
                        last_sent = time.monotonic()
                if "overview" in parts and time.monotonic() >= next_overview:
                    html = await sync_to_async(render_overview)()
                    yield sse("overview", {"html": html})
                    next_overview = time.monotonic() + LIVE_EVERY
                    last_sent = time.monotonic()
                elif "overview" not in parts:
                    next_overview = time.monotonic() + HEARTBEAT
                if time.monotonic() - last_sent >= HEARTBEAT:
                    yield ": ping\n\n"
                    last_sent = time.monotonic()
        finally:
            for group in groups:
                await layer.group_discard(group, channel)

    return _stream_response(generate())


async def bot_log_stream(site, request, bot_id):
    """The bot's log as it grows: the last lines first, then each new line within
    ``LOG_POLL`` seconds. ``level`` (minimum) and ``q`` (text) filter; secrets are redacted."""
    try:
        bot = await BotAccount.objects.aget(pk=bot_id)
    except BotAccount.DoesNotExist:
        raise Http404 from None
    min_level = logs.parse_level(request.GET.get("level"))
    query = request.GET.get("q", "")[:200]
    try:
        tail = max(0, min(2000, int(request.GET.get("tail", 200))))
    except ValueError:
        tail = 200
    secrets = [bot.password, bot.access_token]
    paths = [bot_services.bot_log_path(bot), bot_services.bot_console_path(bot)]

    def payload(line: str, level: str, source: str) -> dict:
        return {"line": bot_services.redact(line, secrets), "level": level, "source": source}

    async def generate():
        followers = [logs.Follower(path) for path in paths]
        yield "retry: 1000\n\n"
        for follower, source in zip(followers, ("log", "console"), strict=True):
            lines = logs.with_levels(logs.tail_before(follower.path, follower.offset, tail))
            for line, level in lines:
                if logs.keep(line, level, min_level=min_level, query=query):
                    yield sse("line", payload(line, level, source))
            if lines:
                follower.level = lines[-1][1]
        yield sse("ready", {"following": [str(p) for p in paths]})
        last_sent = time.monotonic()
        while True:
            await asyncio.sleep(LOG_POLL)
            for follower, source in zip(followers, ("log", "console"), strict=True):
                for line, level in follower.read():
                    if logs.keep(line, level, min_level=min_level, query=query):
                        yield sse("line", payload(line, level, source))
                        last_sent = time.monotonic()
            if time.monotonic() - last_sent >= HEARTBEAT:
                yield ": ping\n\n"
                last_sent = time.monotonic()

    return _stream_response(generate())
