"""The comparison table: stock amqtt against the patched broker, scenario by scenario."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.broker.bench.connections import ConnectionsResult, extrapolate

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
    relay = results.relay
    rows.append(
        f"| (a) QoS 1 relay, 1 publisher -> 1 subscriber, msg/s | {_cell(relay['stock'])} "
        f"| {_cell(relay['patched'])} | {_ratio(relay['stock'], relay['patched'], True)} "
        "| >= 2x stock |"
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

    common = min((r.connected for r in stock + patched), default=0) // 1000 * 1000
    rows = []
    if common:
        rows.append(
            f"| (c) connect {common:,} persistent clients (+1 subscription each), s "
            f"| {_cell(time_to(stock, common), digits=1)} | {_cell(time_to(patched, common), digits=1)} "
            f"| {_ratio(time_to(stock, common), time_to(patched, common), False)} | |"
        )
    full_stock = [r.connect_s for r in stock if r.connected >= target]
    projected = [extrapolate(r.checkpoints, target) for r in stock if r.connected < target]
    stock_cell = (
        _cell(full_stock, digits=1) if full_stock or not stock else _projected(projected, stock)
    )
    rows.append(
        f"| (c) connect {target:,} persistent clients, s | {stock_cell} "
        f"| {_cell([r.connect_s for r in patched if r.connected >= target], digits=1)} | | < 60 s |"
    )
    rows.append(
        f"| (c) connect rate over the run, connections/s | {_cell([r.rate for r in stock])} "
        f"| {_cell([r.rate for r in patched])} | | |"
    )
    rows.append(
        "| (c) held: dropped / ping p50 ms through 100 held connections "
        f"| {_held(stock)} | {_held(patched)} | | 0 dropped |"
    )
    rows.append(
        f"| (c) shutdown with every connection open, s | {_shutdown(stock, target)} "
        f"| {_shutdown(patched, target)} | | < 10 s at {target:,} |"
    )
    rows.append(
        "| (d) RSS per idle connection (persistent, 1 subscription), KiB "
        f"| {_cell([r.bytes_per_connection / 1024 for r in stock], digits=1)} "
        f"| {_cell([r.bytes_per_connection / 1024 for r in patched], digits=1)} "
        f"| {_ratio([r.bytes_per_connection for r in stock], [r.bytes_per_connection for r in patched], False)} "
        "| < 30 KB |"
    )
    return rows


def _projected(projected: list[float | None], stock: list[ConnectionsResult]) -> str:
    known = [p for p in projected if p is not None]
    reached = ", ".join(f"{r.connected:,} in {r.connect_s:.0f}s ({r.stopped_early})" for r in stock)
    if not known:
        return f"not reached: {reached}"
    return f"~{statistics.median(known):,.0f} extrapolated (quadratic fit; ran {reached})"


def _held(results: list[ConnectionsResult]) -> str:
    if not results:
        return "-"
    return ", ".join(
        f"{r.connected:,} held {r.held_s:.0f}s: {r.dropped} dropped, "
        f"{percentile(r.ping_ms, 0.5):.1f} ms"
        for r in results
    )


def _shutdown(results: list[ConnectionsResult], target: int) -> str:
    cells = []
    for r in results:
        if r.shutdown_s is None:
            cells.append(f"> cap, killed ({r.connected:,} sessions)")
            continue
        cell = f"{r.shutdown_s:.1f} ({r.connected:,} sessions)"
        if r.connected < target:
            # amqtt's shutdown is quadratic in the sessions it holds.
            cell += f", ~{r.shutdown_s * (target / r.connected) ** 2:,.0f} at {target:,} if O(n^2)"
        cells.append(cell)
    return "; ".join(cells) or "-"
