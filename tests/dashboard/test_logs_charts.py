"""The log follower and the chart marks, without a server."""

from __future__ import annotations

import os

from dashboard import charts, logs
from dashboard.selectors import percentile


def test_follower_reads_only_new_complete_lines_and_survives_rotation(tmp_path):
    path = tmp_path / "bot.log"
    path.write_text("2026-01-01 00:00:00,0 INFO x old line\n")
    follower = logs.Follower(path)
    assert follower.read() == []
    with open(path, "a") as fh:
        fh.write("2026-01-01 00:00:01,0 ERROR x boom\nTraceback (most recent call last):\n  par")
    assert follower.read() == [
        ("2026-01-01 00:00:01,0 ERROR x boom", "ERROR"),
        ("Traceback (most recent call last):", "ERROR"),  # continuation keeps the level
    ]
    with open(path, "a") as fh:
        fh.write("tial\n")
    assert follower.read() == [("  partial", "ERROR")]
    os.rename(path, tmp_path / "bot.log.1")  # the rotating handler starts a new file
    path.write_text("2026-01-01 00:00:02,0 INFO x fresh\n")
    assert follower.read() == [("2026-01-01 00:00:02,0 INFO x fresh", "INFO")]


def test_follower_waits_for_a_file_that_does_not_exist_yet(tmp_path):
    follower = logs.Follower(tmp_path / "later.log")
    assert follower.read() == []
    (tmp_path / "later.log").write_text('{"level": "warning", "message": "json line"}\n')
    assert follower.read() == [('{"level": "warning", "message": "json line"}', "WARNING")]


def test_tail_before_an_offset(tmp_path):
    path = tmp_path / "a.log"
    path.write_text("".join(f"line {i}\n" for i in range(10)))
    assert logs.tail_before(path, path.stat().st_size, 3) == ["line 7", "line 8", "line 9"]
    assert logs.tail_before(path, len("line 0\nline 1\n"), 5) == ["line 0", "line 1"]


def test_filter_by_level_and_text():
    assert logs.keep("a WARNING b", "WARNING", min_level=logs.parse_level("info"), query="")
    assert not logs.keep("a INFO b", "INFO", min_level=logs.parse_level("WARNING"), query="")
    assert not logs.keep("a ERROR b", "ERROR", min_level=0, query="nothing")
    assert logs.keep("Sync Failed", "ERROR", min_level=0, query="sync")


def test_nearest_rank_percentiles():
    assert percentile([], 50) is None
    assert percentile([5, 1, 3], 50) == 3
    assert percentile(list(range(1, 101)), 95) == 95


def test_chart_text_is_escaped_and_marks_carry_their_numbers():
    svg = charts.bar_chart(
        chart_id="c", title="<script>", labels=["a<b", "c"], values=[2, 0.5], unit="x"
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'data-label="a&lt;b" data-value="2"' in svg and 'data-value="0.5"' in svg
    graph = charts.graph(
        chart_id="g",
        title="t",
        nodes=[
            {"id": "1", "label": "A", "kind": "persona"},
            {"id": "2", "label": '"B', "kind": "participant"},
        ],
        edges=[
            {
                "source": "1",
                "target": "2",
                "stage": "close_friend",
                "affinity": 0.8,
                "trust": 0.5,
                "interactions": 3,
            }
        ],
    )
    assert 'data-stage="close_friend" data-affinity="0.8"' in graph
    assert "close friend +0.80" in graph and "&quot;B" in graph
