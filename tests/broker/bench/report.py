"""The comparison table: stock amqtt against the patched broker, scenario by scenario."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.broker.bench.connections import CHECKPOINT_EVERY, ConnectionsResult, extrapolate

VARIANTS = ("stock", "patched")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the nearest ranks (`fraction` 0.5 is the median)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Results:
    """Everything one bench run measured, per variant."""

    relay: dict[str, list[float]] = field(default_factory=lambda: {v: [] for v in VARIANTS})
    relay_cpu_us: dict[str, list[float]] = field(default_factory=lambda: {v: [] for v in VARIANTS})
    fan_out: dict[str, list[list[float]]] = field(default_factory=lambda: {v: [] for v in VARIANTS})
    connections: dict[str, list[ConnectionsResult]] = field(
        default_factory=lambda: {v: [] for v in VARIANTS}
    )
    others: dict[str, list[float]] = field(
        default_factory=lambda: {"relay": [], "fanout": [], "connections": []}
    )
    """Other processes' CPU during each measurement (both variants), % of one core."""


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            models = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        cpu = models[0] if models else cpu
    except OSError:
        pass
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, nproc {os.cpu_count()}, {cpu}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def _cell(values: Sequence[float], unit: str = "", digits: int = 0) -> str:
    if not values:
        return "-"
    middle = statistics.median(values)
    spread = f" ({', '.join(f'{v:.{digits}f}' for v in values)})" if len(values) > 1 else ""
    return f"{middle:,.{digits}f}{unit}{spread}"


def _ratio(stock: Sequence[float], patched: Sequence[float], higher_is_better: bool) -> str:
    if not stock or not patched:
        return "-"
    s, p = statistics.median(stock), statistics.median(patched)
    if min(s, p) <= 0:
        return "-"
    return f"{(p / s if higher_is_better else s / p):.1f}x"


def table(results: Results, target: int) -> str:
    """Markdown: one row per measurement, stock and patched side by side (medians first)."""
    rows = [
        "| scenario | stock amqtt 0.12.1 | patched | better by | target |",
        "|---|---|---|---|---|",
    ]
    relay, cpu = results.relay, results.relay_cpu_us
    rows.append(
        f"| (a) QoS 1 relay, 1 publisher -> 1 subscriber, msg/s | {_cell(relay['stock'])} "
        f"| {_cell(relay['patched'])} | {_ratio(relay['stock'], relay['patched'], True)} "
        "| >= 2x stock |"
    )
    rows.append(
        f"| (a) broker CPU per relayed message, us | {_cell(cpu['stock'])} "
        f"| {_cell(cpu['patched'])} | {_ratio(cpu['stock'], cpu['patched'], False)} | |"
    )
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        cells = {v: [percentile(r, fraction) * 1000 for r in results.fan_out[v]] for v in VARIANTS}
        rows.append(
            f"| (b) fan-out to 256 topics, {label} ms | {_cell(cells['stock'], digits=1)} "
            f"| {_cell(cells['patched'], digits=1)} "
            f"| {_ratio(cells['stock'], cells['patched'], False)} "
            f"| {'< 100 ms' if label == 'p50' else ''} |"
        )
    rows += _connection_rows(results.connections, target)
    noise = ", ".join(
        f"{name} up to {max(values):.0f}%" for name, values in results.others.items() if values
    )
    if noise:
        rows.append(f"\nOther processes' CPU during the measurements (of one core): {noise}.")
    return "\n".join(rows)


def _connection_rows(runs: dict[str, list[ConnectionsResult]], target: int) -> list[str]:
    stock, patched = runs["stock"], runs["patched"]
    if not stock and not patched:
        return []

    def time_to(results: list[ConnectionsResult], count: int) -> list[float]:
        return [t for r in results for n, t in r.checkpoints if n == count]

    def column(results: list[ConnectionsResult], value: Any, digits: int = 0) -> str:
        return _cell([value(r) for r in results], digits=digits)

    rows = []
    common = min((r.connected for r in stock + patched), default=0)
    common -= common % CHECKPOINT_EVERY
    if common:
        stock_t, patched_t = time_to(stock, common), time_to(patched, common)
        rows.append(
            f"| (c) connect {common:,} persistent clients (1 subscription each), s "
            f"| {_cell(stock_t, digits=1)} | {_cell(patched_t, digits=1)} "
            f"| {_ratio(stock_t, patched_t, False)} | |"
        )
    rows.append(
        f"| (c) connect {target:,} persistent clients, s | {_full_or_projected(stock, target)} "
        f"| {_full_or_projected(patched, target)} | | < 60 s |"
    )
    rows.append(
        "| (c) connections per second over the run "
        f"| {column(stock, lambda r: r.rate)} | {column(patched, lambda r: r.rate)} | | |"
    )
    held = f"{min(r.held_s for r in stock + patched):.0f}"
    rows.append(f"| (c) dropped while held {held} s | {_held(stock)} | {_held(patched)} | | 0 |")
    rows.append(
        "| (c) PINGREQ round trip while held (100 connections a second), p50 ms "
        f"| {column(stock, lambda r: percentile(r.ping_ms, 0.5), 1)} "
        f"| {column(patched, lambda r: percentile(r.ping_ms, 0.5), 1)} | | |"
    )
    rows.append(
        "| (c) shutdown (SIGTERM to exit) with every connection open, s "
        f"| {_shutdown(stock, target)} | {_shutdown(patched, target)} | | < 10 s at {target:,} |"
    )
    stock_kib = [r.bytes_per_connection / 1024 for r in stock]
    patched_kib = [r.bytes_per_connection / 1024 for r in patched]
    rows.append(
        "| (d) RSS per idle connection (persistent, 1 subscription), KiB "
        f"| {_cell(stock_kib, digits=1)} | {_cell(patched_kib, digits=1)} "
        f"| {_ratio(stock_kib, patched_kib, False)} | < 30 KB |"
    )
    return rows


def _full_or_projected(results: list[ConnectionsResult], target: int) -> str:
    full = [r.connect_s for r in results if r.connected >= target]
    if full or not results:
        return _cell(full, digits=1)
    known = [p for r in results if (p := extrapolate(r.checkpoints, target)) is not None]
    reached = f"{min(r.connected for r in results):,}"
    if not known:
        return f"not reached (stopped at {reached})"
    return (
        f"~{statistics.median(known):,.0f} extrapolated (quadratic fit to the run, "
        f"stopped at {reached})"
    )


def _held(results: list[ConnectionsResult]) -> str:
    if not results:
        return "-"
    return f"{sum(r.dropped for r in results)} of {', '.join(f'{r.connected:,}' for r in results)}"


def _shutdown(results: list[ConnectionsResult], target: int) -> str:
    if not results:
        return "-"
    if any(r.shutdown_s is None for r in results):
        return "killed after the cap in " + ", ".join(
            f"{r.connected:,}" for r in results if r.shutdown_s is None
        )
    times = [r.shutdown_s for r in results if r.shutdown_s is not None]
    sessions = min(r.connected for r in results)
    cell = f"{_cell(times, digits=1)} at {sessions:,} sessions"
    if sessions < target:
        # amqtt's shutdown is quadratic in the sessions it holds.
        cell += (
            f"; ~{statistics.median(times) * (target / sessions) ** 2:,.0f} at {target:,} if O(n^2)"
        )
    return cell
