"""Every dashboard page in headless Chromium, for each role; charts against the stored turns;
live logs and live bot status."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tests.dashboard.conftest import off_loop, post_as_page

pytestmark = pytest.mark.django_db(transaction=True)


def nearest_rank(values, p):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@pytest.mark.parametrize("role", ["operators", "authors", "viewers"])
def test_each_role_sees_its_actions_and_is_refused_the_others(open_as, cast, bot, store_turn, role):
    from personas.services import persona_state_update

    store_turn(cast["alice"], minutes_ago=2)
    persona_state_update(persona=cast["alice"], mood=0.4, energy=0.3)
    moods = list(cast["alice"].state_samples.order_by("at").values_list("mood", flat=True))
    server, browser, page = open_as(role)
    base = server.http

    # Overview: branded, live counters, the role shown
    assert page.locator("#site-name").inner_text().strip() == "Persona-MCP"
    assert page.locator(".pm-counter").count() == 6
    assert role in page.locator(".pm-roles").inner_text()
    page.wait_for_selector("#pm-livedot.on")  # the event stream is connected

    # Persona page: edit only for authors, start/stop only for operators
    assert page.goto(f"{base}/admin/dashboard/personas/alice/").status == 200
    points = page.locator('#chart-mood circle[data-series="mood"]')
    assert [float(v) for v in points.evaluate_all("ps => ps.map(p => p.dataset.value)")] == moods
    assert moods[-1] == 0.4
    assert (
        page.locator("#graph-persona .edge").count() == 3
    )  # alice->rook, alice->mira, rook->alice
    assert page.locator("#pm-edit-persona").count() == (1 if role == "authors" else 0)
    assert page.locator('#pm-bots button[data-action="start"]').count() == (
        1 if role == "operators" else 0
    )
    assert page.locator("[data-bot-status]").first.inner_text() == "stopped"

    # Graph and live log pages load for everyone
    assert page.goto(f"{base}/admin/dashboard/graph/").status == 200
    assert page.locator("#graph-all .node").count() == 3
    assert page.goto(f"{base}/admin/dashboard/bots/{bot.pk}/log/").status == 200
    assert page.locator('.pm-log-head button[data-action="stop"]').count() == (
        1 if role == "operators" else 0
    )

    # Direct URLs: the others' actions are refused with 403
    add_persona = page.request.get(f"{base}/admin/personas/persona/add/")
    assert add_persona.status == (200 if role == "authors" else 403)
    start = post_as_page(browser, f"{base}/admin/dashboard/bots/{bot.pk}/start/")
    assert start.status == (302 if role == "operators" else 403)
    edit = post_as_page(
        browser,
        f"{base}/admin/personas/persona/{cast['rook'].pk}/delete/",
        {"post": "yes"},
    )
    assert edit.status == (302 if role == "authors" else 403)
    assert not browser.external_requests
    assert not [e for e in browser.console_errors if "favicon" not in e]


def test_overview_charts_show_the_numbers_of_the_stored_turns(open_as, cast, store_turn):
    from django.utils import timezone

    # (persona, minutes ago, total ms, llm ms, status, error code, tokens); the errors are
    # counted by the code each turn stored, whatever its error text says
    turns = [
        ("alice", 3, 120.0, 80.0, "complete", None, (100, 20)),
        ("alice", 3, 240.0, 200.0, "complete", None, (120, 30)),
        ("alice", 3, 90.0, 50.0, "complete", None, (80, 10)),
        ("rook", 7, 400.0, 310.0, "complete", None, (50, 40)),
        ("rook", 12, 30.0, 0.0, "failed", -32011, (0, 0)),
        ("alice", 12, 55.0, 20.0, "failed", -32010, (0, 0)),
        ("alice", 20, 75.0, 40.0, "cancelled", -32031, (30, 3)),
        ("rook", 25, 1000.0, 900.0, "complete", None, (200, 100)),
    ]
    now = timezone.now()
    stored = [
        store_turn(cast[p], minutes_ago=m, total_ms=t, llm_ms=llm, status=s, code=c, tokens=tok)
        for p, m, t, llm, s, c, tok in turns
    ]
    # Expected figures, computed here from the rows
    per_minute = Counter(m.created_at.strftime("%H:%M") for m in stored)
    complete = [(t, llm) for _, _, t, llm, s, _, _ in turns if s == "complete"]
    platform = [t - llm for t, llm in complete]
    llm_ms = [llm for _, llm in complete]
    tokens = {}
    for p, _, _, _, _, _, (pt, ct) in turns:
        name = cast[p].name
        tokens[name] = (tokens.get(name, (0, 0))[0] + pt, tokens.get(name, (0, 0))[1] + ct)

    *_, page = open_as("viewers")
    bars = page.locator("#chart-turns rect.bar")
    assert bars.count() == 60
    shown = {
        bars.nth(i).get_attribute("data-label"): float(bars.nth(i).get_attribute("data-value"))
        for i in range(60)
    }
    assert {k: v for k, v in shown.items() if v} == {k: float(v) for k, v in per_minute.items()}
    assert sum(shown.values()) == len(turns)
    assert page.locator("h2 small").first.inner_text().startswith(f"{len(turns)} turns")

    def summary(series, p):
        cell = page.locator(f'#latency-summary tr[data-series="{series}"] td[data-p="{p}"]')
        return float(cell.get_attribute("data-value"))

    for p in (50, 95, 99):
        assert summary("platform", p) == pytest.approx(nearest_rank(platform, p))
        assert summary("llm", p) == pytest.approx(nearest_rank(llm_ms, p))

    # the p95 line's point in the minute of the three alice turns
    minute = stored[0].created_at.strftime("%H:%M")
    point = page.locator(f'#chart-llm-latency circle[data-series="p95"][data-label="{minute}"]')
    assert float(point.get_attribute("data-value")) == nearest_rank([80.0, 200.0, 50.0], 95)

    for name, (pt, ct) in tokens.items():
        row = page.locator(f'#chart-tokens g.row[data-label="{name}"]')
        assert float(row.get_attribute("data-prompt")) == pt
        assert float(row.get_attribute("data-completion")) == ct

    codes = {
        int(r.get_attribute("data-code")): int(r.get_attribute("data-count"))
        for r in page.locator("#errors-by-code tr[data-code]").all()
    }
    assert codes == {-32011: 1, -32010: 1, -32031: 1}

    slowest = [
        int(r.get_attribute("data-id")) for r in page.locator("#slowest-turns tr[data-id]").all()
    ]
    by_total = sorted(
        (m for m, t in zip(stored, turns, strict=True) if t[4] == "complete"),
        key=lambda m: -m.timings["total_ms"],
    )
    assert slowest == [m.pk for m in by_total]
    # the slowest turn links to its turn inspector
    page.click(f'#slowest-turns tr[data-id="{slowest[0]}"] a')
    assert f"/admin/conversations/message/{slowest[0]}/change/" in page.url
    assert now  # (times above are relative to the test's clock)


def test_overview_counters_update_live(open_as, cast, store_turn):
    *_, page = open_as("viewers")
    counter = page.locator('[data-counter="turns_last_minute"] .v')
    assert counter.inner_text() == "0"
    off_loop(store_turn, cast["alice"], minutes_ago=0.1)
    off_loop(store_turn, cast["rook"], minutes_ago=0.2)
    page.wait_for_function(
        "document.querySelector('[data-counter=turns_last_minute] .v').textContent.trim() === '2'"
    )
    assert page.locator('[data-counter="active_conversations"] .v').inner_text() == "2"


def test_live_log_lines_appear_within_a_second_filtered_and_redacted(open_as, bot):
    from bots.services import bot_log_path

    path = bot_log_path(bot)
    path.write_text(
        "2026-12-01 10:00:00,000 INFO bots.runner [pid 1] logged in\n"
        "2026-12-01 10:00:01,000 WARNING bots.runner [pid 1] slow sync\n"
    )
    try:
        *_, page = open_as("viewers", f"/admin/dashboard/bots/{bot.pk}/log/")
        page.wait_for_selector("#pm-log-state.on")
        lines = page.locator("#pm-log .line")
        assert lines.all_inner_texts() == [
            "2026-12-01 10:00:00,000 INFO bots.runner [pid 1] logged in",
            "2026-12-01 10:00:01,000 WARNING bots.runner [pid 1] slow sync",
        ]

        def append(text: str) -> None:
            with open(path, "a") as fh:
                fh.write(text + "\n")

        append("2026-12-01 10:00:02,000 ERROR bots.runner [pid 1] password hunter2-secret leaked")
        page.wait_for_function(
            "document.querySelectorAll('#pm-log .line').length === 3", timeout=1000
        )
        assert lines.nth(2).inner_text().endswith("password *** leaked")
        assert "lvl-error" in lines.nth(2).get_attribute("class")

        # Level filter: warnings and above only, then new lines keep coming through it
        page.select_option("#pm-log-level", "WARNING")
        page.wait_for_function("document.querySelectorAll('#pm-log .line').length === 2")
        page.wait_for_selector("#pm-log-state.on")
        append("2026-12-01 10:00:03,000 INFO bots.runner [pid 1] routine")
        append("2026-12-01 10:00:04,000 WARNING bots.runner [pid 1] rate limited")
        page.wait_for_function(
            "document.querySelectorAll('#pm-log .line').length === 3", timeout=1000
        )
        assert "rate limited" in lines.nth(2).inner_text()
        assert "routine" not in page.locator("#pm-log").inner_text()

        # Search
        page.select_option("#pm-log-level", "")
        page.fill("#pm-log-q", "sync")
        page.wait_for_function("document.querySelectorAll('#pm-log .line').length === 1")
        assert "slow sync" in lines.first.inner_text()
        assert "q=sync" in page.url
    finally:
        path.unlink(missing_ok=True)


def test_bot_list_shows_status_changes_live(open_as, bot):
    server, browser, page = open_as("operators", "/admin/bots/botaccount/")
    page.wait_for_selector("#pm-livedot.on")
    cell = page.locator("#result_list td.field-status_badge")
    assert cell.inner_text().startswith("stopped")
    # Another tab starts the bot; this list changes without a reload
    other = browser.context.new_page()
    other.goto(f"{server.http}/admin/dashboard/personas/alice/")
    other.click('#pm-bots button[data-action="start"]')
    page.wait_for_function(
        "!document.querySelector('#result_list td.field-status_badge').textContent.startsWith('stopped')"
    )
    assert page.locator("#result_list td.field-status_badge [data-bot-status]").count() == 1
    other.close()
