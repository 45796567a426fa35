"""Latency percentiles and rates: plain functions over numbers, no clock reads."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of already sorted values (NaN when there are none).

    Nearest rank, not interpolation: p99 of 1000 latencies is the 990th slowest one, a
    latency that really happened.
    """
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0..100, not {pct}")
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of a set of latencies, in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, latencies_ms: Iterable[float]) -> LatencySummary:
        ordered = sorted(latencies_ms)
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            max=ordered[-1] if ordered else math.nan,
        )


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 for an empty window rather than a division error."""
    return count / seconds if seconds > 0 else 0.0


def count_within(times: Iterable[float], start: float, end: float) -> int:
    """How many of `times` fall in `[start, end)`."""
    return sum(1 for moment in times if start <= moment < end)


def median_of(values: Iterable[float]) -> float:
    """The median, ignoring NaN (a run that measured nothing); NaN when none is left."""
    present = [value for value in values if not math.isnan(value)]
    return statistics.median(present) if present else math.nan


MACHINE = "machine"
"""The key of whole-machine busy CPU seconds in a CPU sample."""
OTHERS = "others"
"""The share of the machine's busy CPU that none of the named processes used."""


def cpu_percent(
    before: dict[str, float], after: dict[str, float], wall_s: float
) -> dict[str, float]:
    """CPU use over `wall_s` seconds, in % of one core, from two samples of CPU seconds.

    A sample may hold `MACHINE`, the whole machine's busy time; what the named processes
    do not account for of it is reported as `OTHERS`: anything else running at the
    time (another test run, say), which makes the measurement suspect.
    """
    if wall_s <= 0:
        return {}
    shares = {
        name: 100 * (after[name] - before[name]) / wall_s
        for name in after
        if name in before and name != MACHINE
    }
    if MACHINE in before and MACHINE in after:
        machine = 100 * (after[MACHINE] - before[MACHINE]) / wall_s
        shares[OTHERS] = max(0.0, machine - sum(shares.values()))
    return shares
