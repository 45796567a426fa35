"""The bench's arithmetic: percentiles, rates, medians and CPU shares."""

from __future__ import annotations

import math

import pytest

from clients.bench.stats import (
    MACHINE,
    OTHERS,
    LatencySummary,
    count_within,
    cpu_percent,
    median_of,
    percentile,
    rate,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1


def test_percentile_picks_a_value_that_happened() -> None:
    values = [1.0, 2.0, 10.0]
    assert percentile(values, 50) == 2.0
    assert percentile(values, 99) == 10.0


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.0], 1) == 7.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 50))


@pytest.mark.parametrize("pct", [-1, 100.1])
def test_percentile_outside_0_100_is_refused(pct: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], pct)


def test_latency_summary_sorts_its_input() -> None:
    summary = LatencySummary.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert summary == LatencySummary(count=5, p50=3.0, p95=5.0, p99=5.0, max=5.0)


def test_latency_summary_of_nothing() -> None:
    summary = LatencySummary.of([])
    assert summary.count == 0
    assert math.isnan(summary.p99) and math.isnan(summary.max)


def test_rate_and_an_empty_window() -> None:
    assert rate(400, 20.0) == 20.0
    assert rate(5, 0.0) == 0.0


def test_count_within_is_half_open() -> None:
    assert count_within([1.0, 2.0, 2.5, 3.0], 2.0, 3.0) == 2


def test_median_ignores_runs_that_measured_nothing() -> None:
    assert median_of([3.0, math.nan, 1.0, 2.0]) == 2.0
    assert math.isnan(median_of([math.nan]))


def test_cpu_percent_per_process_and_others() -> None:
    before = {"server": 10.0, "bench": 1.0, MACHINE: 100.0}
    after = {"server": 15.0, "bench": 2.0, MACHINE: 112.0}
    shares = cpu_percent(before, after, wall_s=10.0)
    assert shares == pytest.approx({"server": 50.0, "bench": 10.0, OTHERS: 60.0})


def test_cpu_percent_others_never_negative() -> None:
    # Sampling at slightly different moments can make the parts exceed the whole.
    shares = cpu_percent({"a": 0.0, MACHINE: 0.0}, {"a": 1.0, MACHINE: 0.9}, 1.0)
    assert shares[OTHERS] == 0.0


def test_cpu_percent_without_a_machine_sample_or_time() -> None:
    assert cpu_percent({"a": 0.0}, {"a": 1.0}, 2.0) == {"a": 50.0}
    assert cpu_percent({"a": 0.0}, {"a": 1.0}, 0.0) == {}
