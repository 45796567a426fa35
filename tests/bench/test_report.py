"""Medians over runs, the targets and the separate-versus-inline decision."""

from __future__ import annotations

import dataclasses
import math

import pytest

from clients.bench.ledger import Verdict
from clients.bench.load import LoadResult
from clients.bench.relay import RelayResult
from clients.bench.report import server_cost_us, summarize
from clients.bench.stats import LatencySummary
from clients.bench.tables import render

CLEAN = Verdict(
    sent=100,
    acked=100,
    refused=0,
    unacked=0,
    duplicate_acks=0,
    delivered=100,
    lost=0,
    redelivered=1,
    misdelivered=0,
    unexpected=0,
    seq_gaps=0,
    seq_reused=0,
)


def load(
    mode: str, phase: str, run: int, delivered: float, p99: float, verdict: Verdict = CLEAN
) -> LoadResult:
    return LoadResult(
        phase=phase,
        mode=mode,
        run=run,
        users=100,
        duration_s=20.0,
        offered_rate=200.0 if phase == "fixed" else None,
        window=None if phase == "fixed" else 10,
        accepted_per_s=delivered,
        delivered_per_s=delivered,
        push=LatencySummary(100, p99 / 4, p99 / 2, p99, p99 * 2),
        ack=LatencySummary(100, 1.0, 2.0, 3.0, 4.0),
        verdict=verdict,
        cpu_percent={"server": 50.0, "bench": 10.0},
        max_lag_ms=0.0,
    )


def relay(run: int, per_second: float, broker: str = "embedded") -> RelayResult:
    return RelayResult(run, 5.0, 500, 1000, 1000, per_second, {"broker": 99.0}, broker=broker)


def test_medians_over_runs_and_redeliveries_summed() -> None:
    summary = summarize(
        [load("separate", "full", run, rate, 50.0) for run, rate in ((1, 500), (2, 700), (3, 600))],
        [relay(1, 4000), relay(2, 6000), relay(3, 5000)],
    )
    (row,) = summary.loads
    assert (row.runs, row.delivered_per_s, row.redelivered, row.sent) == (3, 600, 3, 300)
    (relay_row,) = summary.relays
    assert (relay_row.broker, relay_row.relayed_per_s) == ("embedded", 5000)
    assert relay_row.relayed_runs == (4000, 6000, 5000)
    assert row.delivered_runs == (500, 700, 600)
    assert summary.ok
    assert "separate: end-to-end / raw relay = 600 / 5000 = 0.12" in summary.conclusions


def test_targets_met_and_missed() -> None:
    summary = summarize(
        [load("separate", "fixed", 1, 200, 99.0), load("separate", "full", 1, 399, 500.0)], []
    )
    assert any("p99 99.0 ms" in line and line.endswith("met") for line in summary.conclusions)
    assert any("399 msg/s" in line and line.endswith("MISSED") for line in summary.conclusions)


def test_the_faster_placement_wins() -> None:
    summary = summarize(
        [load("separate", "full", 1, 800, 100.0), load("inline", "full", 1, 500, 90.0)], []
    )
    assert summary.conclusions[-1].startswith("broker process: separate (800 vs 500")


def test_on_a_throughput_tie_latency_decides() -> None:
    summary = summarize(
        [
            load("separate", "full", 1, 800, 100.0),
            load("inline", "full", 1, 790, 100.0),
            load("separate", "fixed", 1, 200, 40.0),
            load("inline", "fixed", 1, 200, 30.0),
        ],
        [],
    )
    assert summary.conclusions[-1].startswith("broker process: inline (throughput within 5%")


def test_a_loss_fails_the_summary_and_shows_in_the_table() -> None:
    verdict = Verdict(100, 100, 0, 0, 0, 98, 2, 0, 0, 0, 0, 0)
    summary = summarize([load("inline", "fixed", 1, 200, 10.0, verdict)], [])
    assert not summary.ok
    table = render(summary)
    assert "run 1: 2 acked but never delivered" in table
    assert table.rstrip().endswith("result: FAILED (see problems)")


def test_render_is_a_markdown_table_with_every_column() -> None:
    table = render(summarize([load("separate", "fixed", 1, 200, 10.0)], [relay(1, 5000)]))
    lines = table.splitlines()
    start = lines.index("All numbers:") + 2
    header, rule, row = lines[start], lines[start + 1], lines[start + 2]
    assert header.count("|") == rule.count("|") == row.count("|")
    assert "| separate | fixed | 100 | 200 | 200 | 200 |" in row
    assert "| 1 publisher -> 1 subscriber | embedded | 500 | 5,000 |" in table
    assert table.rstrip().endswith("result: ok")


def test_server_cpu_per_message_counts_backend_and_broker_only() -> None:
    result = load("separate", "full", 1, 500, 10.0)
    both = dataclasses.replace(result, cpu_percent={"server": 60.0, "broker": 40.0, "bench": 30.0})
    assert server_cost_us(both) == pytest.approx(2000.0)  # one core for 500 msg/s
    assert server_cost_us(result) == pytest.approx(1000.0)  # inline: no broker share
    assert math.isnan(server_cost_us(dataclasses.replace(result, cpu_percent={})))


def test_a_busy_generator_is_called_out() -> None:
    busy = dataclasses.replace(
        load("separate", "full", 1, 900, 100.0), cpu_percent={"server": 90.0, "bench": 95.0}
    )
    summary = summarize([busy], [relay(1, 5000)])
    assert summary.conclusions[-1].startswith(
        "warning: separate full: the load generator used 95% of a core"
    )
    assert not any(line.startswith("warning: raw relay") for line in summary.conclusions)
