"""Report figures as pure functions over export rows, checked against hand computations."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from bench.synthetic import T0_MS, Call, create_campaign, insert_calls
from sc_asterisk.reports import (Tariff, billed_seconds, campaign_figures, format_live_status,
                                 retention_curve, script_position)

KEY = "test-installation-key"
SCRIPT = [("message", 4000), ("notice", 3000)]


def three_calls() -> list[Call]:
    """Three answered callees and one busy line, with script positions 5.5 s, 2.5 s and 7 s."""
    def answered(i, heard_message, heard_notice, connected_ms):
        answer = T0_MS + i * 60_000 + 2_000
        return Call(f"c{i}", f"+3319900000{i}", "answered", answer - 2_000, answer,
                    answer + connected_ms, 16, "callee", segments=[
                        ("message", 4000, heard_message, heard_message == 4000,
                         "end" if heard_message == 4000 else "hangup"),
                        ("notice", 3000, heard_notice, heard_notice == 3000,
                         "end" if heard_notice == 3000 else
                         ("hangup" if heard_message == 4000 else "not_reached"))])
    return [answered(1, 4000, 1500, 5_600), answered(2, 2500, 0, 2_550),
            answered(3, 4000, 3000, 61_000),
            Call("c4", "+33199000004", "busy", T0_MS + 3 * 60_000, None, T0_MS + 3 * 60_000 + 900,
                 17)]


@pytest.fixture
def figures(db):
    insert_calls(db, create_campaign(db, "hand", SCRIPT), three_calls())
    return campaign_figures(db, KEY, "hand", min_listen_s=3,
                            tariffs=Tariff(Decimal("0.06"), increment_s=60))


def test_retention_curve_matches_hand_computation(figures):
    # Positions 5500, 2500, 7000 ms; % of 3 answered callees at or beyond t seconds.
    third = 100 / 3
    assert figures["retention"]["curve"] == pytest.approx(
        [100, 100, 100, 2 * third, 2 * third, 2 * third, third, third])
    assert figures["retention"]["segments"] == [
        {"role": "message", "start_ms": 0, "end_ms": 4000},
        {"role": "notice", "start_ms": 4000, "end_ms": 7000}]


def test_listen_figures_match_hand_computation(figures):
    assert (figures["attempts"], figures["dialled"], figures["answered"]) == (4, 4, 3)
    assert figures["answer_rate"] == 0.75
    assert figures["unique_numbers_reached"] == 3
    assert figures["outcomes"] == {"answered": 3, "busy": 1}
    assert figures["listen"]["heard_min"] == 2            # 4.0 s, 2.5 s, 4.0 s vs 3 s
    assert figures["listen"]["heard_full_message"] == 2
    assert figures["message_listened_s"] == {"mean": 3.5, "median": 4.0}
    assert figures["notice_heard_full"] == 1
    assert figures["amd"] == {"not-run": 3}


def test_cost_rounds_each_call_up_to_the_increment(figures):
    # 5.6 s -> 60 s, 2.55 s -> 60 s, 61 s -> 120 s: 240 s at 0.06/min = 0.24.
    assert figures["cost"]["billed_s"] == 240
    assert figures["cost"]["amount"] == "0.24"


@pytest.mark.parametrize("row, position", [
    ({"message_length_ms": 4000, "message_heard_full": True, "message_listened_ms": 3990,
      "notice_length_ms": 3000, "notice_heard_full": False, "notice_listened_ms": 1500}, 5500),
    ({"message_length_ms": 4000, "message_heard_full": False, "message_listened_ms": 2500,
      "notice_length_ms": 3000, "notice_heard_full": False, "notice_listened_ms": 0}, 2500),
    ({"message_length_ms": None, "notice_length_ms": None}, 0),   # answered, no call flow
    ({"message_length_ms": 4000, "message_heard_full": True, "message_listened_ms": 4000,
      "notice_length_ms": 3000, "notice_heard_full": True, "notice_listened_ms": 3000}, 7000),
])
def test_script_position_counts_full_segments_by_their_length(row, position):
    assert script_position(row, ["message", "notice"]) == position


def test_retention_curve_without_answered_calls_is_empty():
    assert retention_curve(Counter(), 0, 7000) == []


@pytest.mark.parametrize("connected_ms, increment, minimum, billed", [
    (None, 1, 0, 0), (0, 60, 0, 0), (1, 1, 0, 1), (1000, 1, 0, 1), (1001, 1, 0, 2),
    (61_001, 60, 0, 120), (4_200, 6, 30, 30), (40_000, 6, 30, 42),
])
def test_billed_seconds(connected_ms, increment, minimum, billed):
    assert billed_seconds(connected_ms, increment, minimum) == billed


def test_live_status_shows_progress_outcomes_and_listen_rate():
    text = format_live_status("muni", "running", {"queued": 5, "originating": 1, "finished": 4},
                              {"answered": 3, "busy": 1}, cps=2.5, heard_min=1, width=10)
    assert text.splitlines() == [
        "muni  running",
        "[####------]  4/10 done (40.0 %)  in flight 1  2.5 calls/s",
        "outcomes: answered=3 busy=1",
        "listen rate (>= 10 s of the message): 33.3 % of 3 answered"]


def test_live_status_before_any_call():
    text = format_live_status("muni", "draft", {}, {}, heard_min=0, width=4)
    assert "[----]  0/0 done (-)  in flight 0  - calls/s" in text
    assert text.endswith("listen rate: - (no answered call yet)")


@pytest.mark.parametrize("module", ["cost", "figures", "live", "rows", "writers"])
def test_docstring_examples_hold(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(f"sc_asterisk.reports.{module}"))
    assert result.attempted > 0 and result.failed == 0
