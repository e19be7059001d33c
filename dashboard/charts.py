"""Server-side SVG charts: line and bar charts, stacked horizontal bars, relationship graphs.

Plain SVG with presentation attributes and CSS classes (no inline styles or scripts, so a strict
Content-Security-Policy allows them). Every mark carries its number in ``data-value`` and a
``<title>`` tooltip, so the figures can be read back exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 18, 30


def _svg(parts: list[str]) -> SafeString:
    # Every text interpolated into the parts went through escape() (or is a number).
    return mark_safe("".join(parts))  # noqa: S308


def num(value: float | None) -> str:
    """A number as written into ``data-value`` (empty for no value)."""
    if value is None:
        return ""
    return f"{round(float(value), 3):g}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _fmt_tick(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _frame(
    chart_id: str, title: str, max_value: float, unit: str, labels: Sequence[str], low: float = 0.0
) -> list:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [
        f'<svg class="pm-chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = low + (max_value - low) * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt_tick(round(value, 6))}</text>"
        )
    out.append(f'<text class="unit" x="6" y="{TOP + 4}" text-anchor="start">{escape(unit)}</text>')
    n = len(labels)
    every = max(1, math.ceil(n / 8))
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = LEFT + (plot_w * (i + 0.5) / n if n else 0)
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    return out


def bar_chart(
    *, chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], unit: str
) -> SafeString:
    """One bar per label (all drawn, zero-height ones too, so every bucket can be read)."""
    top = _nice_max(max(values, default=0))
    out = _frame(chart_id, title, top, unit, labels)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(values))
    slot = plot_w / n
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * (value / top)
        x = LEFT + i * slot + slot * 0.12
        out.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.76:.1f}" '
            f'height="{h:.1f}" data-label="{escape(label)}" data-value="{num(value)}">'
            f"<title>{escape(label)}: {num(value)} {escape(unit)}</title></rect>"
        )
    out.append("</svg>")
    return _svg(out)


def line_chart(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    unit: str,
    max_value: float | None = None,
    min_value: float = 0.0,
) -> SafeString:
    """Lines (``(name, css class, values)``) over the labels; gaps where a value is None."""
    values = [v for _, _, vs in series for v in vs if v is not None]
    top = max_value if max_value is not None else _nice_max(max(values, default=0))
    low = min(min_value, min(values, default=min_value))
    out = _frame(chart_id, title, top, unit, labels, low)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(labels))

    def xy(i: int, v: float) -> tuple[float, float]:
        return LEFT + plot_w * (i + 0.5) / n, TOP + plot_h - plot_h * (v - low) / (top - low)

    if low < 0:  # a zero line when values go below zero (mood)
        _, y0 = xy(0, 0.0)
        out.append(
            f'<line class="zero" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y0:.1f}" y2="{y0:.1f}"/>'
        )
    legend_x = LEFT + 8
    for name, css, vs in series:
        path, pen = [], "M"
        for i, v in enumerate(vs):
            if v is None:
                pen = "M"
                continue
            x, y = xy(i, v)
            path.append(f"{pen}{x:.1f},{y:.1f}")
            pen = "L"
        if path:
            out.append(f'<path class="line {css}" d="{" ".join(path)}"/>')
        for i, v in enumerate(vs):
            if v is None:
                continue
            x, y = xy(i, v)
            out.append(
                f'<circle class="dot {css}" cx="{x:.1f}" cy="{y:.1f}" r="2.6" '
                f'data-series="{escape(name)}" data-label="{escape(labels[i])}" '
                f'data-value="{num(v)}"><title>{escape(name)} at {escape(labels[i])}: '
                f"{num(v)} {escape(unit)}</title></circle>"
            )
        out.append(
            f'<rect class="swatch {css}" x="{legend_x}" y="{TOP + 2}" width="10" height="10"/>'
            f'<text class="legend" x="{legend_x + 14}" y="{TOP + 11}">{escape(name)}</text>'
        )
        legend_x += 24 + 7 * len(name)
    out.append("</svg>")
    return _svg(out)


def stacked_bars(
    *, chart_id: str, title: str, rows: Sequence[tuple[str, Sequence[tuple[str, str, float]]]]
) -> SafeString:
    """Horizontal bars, one per row, stacked from ``(name, css class, value)`` parts."""
    totals = [sum(v for _, _, v in parts) for _, parts in rows]
    top = _nice_max(max(totals, default=0))
    row_h, label_w = 26, 130
    height = TOP + BOTTOM + row_h * max(1, len(rows))
    plot_w = WIDTH - label_w - RIGHT - 70
    out = [
        f'<svg class="pm-chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if not rows:
        out.append(f'<text class="empty" x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">'
                   "no turns in this window</text>")  # fmt: skip
    for r, (label, parts) in enumerate(rows):
        y = TOP + r * row_h
        attrs = " ".join(f'data-{escape(name)}="{num(v)}"' for name, _, v in parts)
        out.append(f'<g class="row" data-label="{escape(label)}" {attrs}>')
        out.append(
            f'<text class="tick" x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        x = label_w
        for name, css, value in parts:
            w = plot_w * value / top
            out.append(
                f'<rect class="bar {css}" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}">'
                f"<title>{escape(label)} {escape(name)}: {num(value)}</title></rect>"
            )
            x += w
        out.append(f'<text class="tick" x="{x + 6:.1f}" y="{y + 16}">{num(totals[r])}</text></g>')
    out.append(
        f'<text class="legend" x="{label_w}" y="{height - 8}">'
        + " · ".join(escape(name) for name, _, _ in (rows[0][1] if rows else []))
        + "</text></svg>"
    )
    return _svg(out)


STAGE_CLASS = {
    "stranger": "st-stranger",
    "acquaintance": "st-acquaintance",
    "friend": "st-friend",
    "close_friend": "st-close",
    "rival": "st-rival",
    "enemy": "st-enemy",
}


NODE_R = 22  # the radius of a graph node


def _graph_positions(
    nodes: Sequence[dict], center: str | None, size: int
) -> dict[str, tuple[float, float]]:
    """Personas on an inner ring (or ``center`` in the middle and everyone on one ring),
    participants on an outer ring turned by half a step."""
    cx = cy = size / 2
    personas = [n for n in nodes if n["kind"] == "persona" and n["id"] != center]
    others = [n for n in nodes if n["kind"] != "persona" and n["id"] != center]
    pos: dict[str, tuple[float, float]] = {}
    if center is not None:
        pos[center] = (cx, cy)
        rings = [(personas + others, size * 0.36)]
    else:
        rings = [(personas, size * (0.25 if others else 0.34)), (others, size * 0.43)]
    for ring_no, (members, radius) in enumerate(rings):
        # the outer ring turned by half a step, so that its nodes sit between the inner ones
        offset = math.pi / max(1, len(members)) if ring_no else 0.0
        for i, node in enumerate(members):
            angle = -math.pi / 2 + offset + 2 * math.pi * i / max(1, len(members))
            pos[node["id"]] = (cx + radius * math.cos(angle), cy + radius * math.sin(angle))
    return pos


def _graph_edge(e: dict, pos: dict, *, two_way: bool, labelled: bool, chart_id: str) -> str:
    """One edge: a curve from node rim to node rim (two-way pairs bend apart), its width the
    affinity, its label a third of the way from the persona who holds the view."""
    (x1, y1), (x2, y2) = pos[e["source"]], pos[e["target"]]
    dx, dy = x2 - x1, y2 - y1
    dist = math.hypot(dx, dy) or 1
    ux, uy = dx / dist, dy / dist
    sx, sy = x1 + ux * NODE_R, y1 + uy * NODE_R
    tx, ty = x2 - ux * (NODE_R + 3), y2 - uy * (NODE_R + 3)
    bend = 46 if two_way else 0
    mx, my = (sx + tx) / 2 - uy * bend, (sy + ty) / 2 + ux * bend
    width = 1.2 + 3.5 * abs(e["affinity"])
    tone = "pos" if e["affinity"] > 0.05 else "neg" if e["affinity"] < -0.05 else "neutral"
    label = f"{e['stage'].replace('_', ' ')} {e['affinity']:+.2f}"
    t = 0.35  # along the quadratic curve
    lx = (1 - t) ** 2 * sx + 2 * (1 - t) * t * mx + t**2 * tx
    ly = (1 - t) ** 2 * sy + 2 * (1 - t) * t * my + t**2 * ty
    text = (
        f'<text class="edge-label" x="{lx:.1f}" y="{ly - 4:.1f}" text-anchor="middle">'
        f"{escape(label)}</text>"
        if labelled
        else ""
    )
    return (
        f'<g class="edge {tone} {STAGE_CLASS.get(e["stage"], "")}" '
        f'data-source="{escape(e["source"])}" data-target="{escape(e["target"])}" '
        f'data-stage="{escape(e["stage"])}" data-affinity="{num(e["affinity"])}">'
        f'<path d="M{sx:.1f},{sy:.1f} Q{mx:.1f},{my:.1f} {tx:.1f},{ty:.1f}" '
        f'stroke-width="{width:.1f}" marker-end="url(#{escape(chart_id)}-arrow)"/>'
        f"{text}<title>{escape(label)} · trust {e['trust']:+.2f} · "
        f"{e['interactions']} interactions</title></g>"
    )


def _graph_node(node: dict, x: float, y: float, *, center: str | None, link) -> str:
    """One node: a circle with the initial, the name below, a link when ``link`` gives one."""
    css = "node " + node["kind"] + (" center" if node["id"] == center else "")
    inner = (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{NODE_R}"/>'
        f'<text class="initial" x="{x:.1f}" y="{y + 5:.1f}" text-anchor="middle">'
        f"{escape(node['label'][:1].upper())}</text>"
        f'<text class="node-label" x="{x:.1f}" y="{y + NODE_R + 15:.1f}" text-anchor="middle">'
        f"{escape(node['label'])}</text><title>{escape(node['label'])} ({node['kind']})</title>"
    )
    href = link(node) if link else None
    if href:
        inner = f'<a href="{escape(href)}">{inner}</a>'
    return (
        f'<g class="{css}" data-id="{escape(node["id"])}" data-label="{escape(node["label"])}">'
        f"{inner}</g>"
    )


def graph(
    *,
    chart_id: str,
    title: str,
    nodes: Sequence[dict],
    edges: Sequence[dict],
    center: str | None = None,
    link=None,
    size: int = 720,
) -> SafeString:
    """A relationship graph: personas on an inner ring (or ``center`` in the middle),
    participants on an outer ring; edges labelled with stage and affinity."""
    pos = _graph_positions(nodes, center, size)
    pairs = {(e["source"], e["target"]) for e in edges}
    kinds = {n["id"]: n["kind"] for n in nodes}
    # Many edges: only those between personas keep a visible label (all have a tooltip).
    label_all = len(edges) <= 12
    out = [
        f'<svg class="pm-graph" id="{escape(chart_id)}" viewBox="0 0 {size} {size}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<defs><marker id="{escape(chart_id)}-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" '
        'orient="auto-start-reverse"><path class="arrowhead" d="M0,0 L10,5 L0,10 z"/>'
        "</marker></defs>",
    ]
    for e in edges:
        if e["source"] in pos and e["target"] in pos:
            two_way = (e["target"], e["source"]) in pairs
            labelled = label_all or kinds.get(e["target"]) == "persona"
            out.append(_graph_edge(e, pos, two_way=two_way, labelled=labelled, chart_id=chart_id))
    for node in nodes:
        if node["id"] in pos:
            out.append(_graph_node(node, *pos[node["id"]], center=center, link=link))
    if not nodes:
        out.append(
            f'<text class="empty" x="{size / 2}" y="{size / 2}" text-anchor="middle">'
            "no relationships yet</text>"
        )
    out.append("</svg>")
    return _svg(out)
