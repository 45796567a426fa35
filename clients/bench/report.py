"""The bench's results: medians over runs, the targets, and the tables printed at the end.

Tables are Markdown, so that what the terminal shows is what BENCHMARKS.md quotes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from clients.bench.configs import config
from clients.bench.load import LoadResult
from clients.bench.relay import RelayResult
from clients.bench.stats import OTHERS, median_of
from clients.bench.targets import latency_line, throughput_line

# Closer than this, two throughputs are a tie and latency decides.
TIE_FRACTION = 0.05
CPU_COLUMNS = ("server", "broker", "bench", OTHERS)
GENERATOR_BUSY_PERCENT = 80.0


@dataclass(frozen=True, slots=True)
class LoadRow:
    """One phase in one broker mode: medians over its runs, problems summed."""

    mode: str
    phase: str
    client: str
    runs: int
    users: int
    offered_rate: float | None
    window: int | None
    sent: int
    accepted_per_s: float
    delivered_per_s: float
    push_p50: float
    push_p95: float
    push_p99: float
    push_max: float
    ack_p99: float
    redelivered: int
    duplicate_acks: int
    lost: int
    seq_gaps: int
    delivered_runs: tuple[float, ...]
    """Each run's delivered/s, in the order measured."""
    cpu_percent: dict[str, float]
    server_cpu_us_per_msg: float
    """CPU the server (backend and broker) spent per delivered message: unlike a rate,
    it hardly moves when other programs compete for the cores."""
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RelayRow:
    """The raw relay of one broker: median over runs."""

    broker: str
    runs: int
    window: int
    relayed_per_s: float
    relayed_runs: tuple[float, ...]
    cpu_percent: dict[str, float]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything the final tables show; `ok` is False on any loss, gap or failure."""

    loads: list[LoadRow]
    relays: list[RelayRow]
    conclusions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        rows: list[LoadRow | RelayRow] = [*self.loads, *self.relays]
        return not any(row.problems for row in rows)

    def relay_of(self, broker: str) -> RelayRow | None:
        """The raw relay of `broker` ("embedded", "mosquitto"), if measured."""
        return next((row for row in self.relays if row.broker == broker), None)


def summarize(loads: Sequence[LoadResult], relays: Sequence[RelayResult]) -> Summary:
    """Group runs by (mode, phase) and relays by broker, take medians, draw conclusions."""
    groups: dict[tuple[str, str], list[LoadResult]] = defaultdict(list)
    for result in loads:
        groups[(result.mode, result.phase)].append(result)
    rows = [_load_row(runs) for runs in groups.values()]
    by_broker: dict[str, list[RelayResult]] = defaultdict(list)
    for relay in relays:
        by_broker[relay.broker].append(relay)
    relay_rows = [_relay_row(runs) for runs in by_broker.values()]
    return Summary(rows, relay_rows, conclusions(rows, relay_rows))


def _median_cpu(samples: Sequence[dict[str, float]]) -> dict[str, float]:
    names = {name for sample in samples for name in sample}
    return {name: median_of(s.get(name, math.nan) for s in samples) for name in names}


def _load_row(runs: list[LoadResult]) -> LoadRow:
    first = runs[0]
    problems = [f"run {r.run}: {p}" for r in runs for p in (*r.verdict.problems, *r.errors)]
    return LoadRow(
        mode=first.mode,
        phase=first.phase,
        client=first.client,
        runs=len(runs),
        users=first.users,
        offered_rate=first.offered_rate,
        window=first.window,
        sent=sum(r.verdict.sent for r in runs),
        accepted_per_s=median_of(r.accepted_per_s for r in runs),
        delivered_per_s=median_of(r.delivered_per_s for r in runs),
        push_p50=median_of(r.push.p50 for r in runs),
        push_p95=median_of(r.push.p95 for r in runs),
        push_p99=median_of(r.push.p99 for r in runs),
        push_max=median_of(r.push.max for r in runs),
        ack_p99=median_of(r.ack.p99 for r in runs),
        redelivered=sum(r.verdict.redelivered for r in runs),
        duplicate_acks=sum(r.verdict.duplicate_acks for r in runs),
        lost=sum(r.verdict.lost for r in runs),
        seq_gaps=sum(r.verdict.seq_gaps for r in runs),
        delivered_runs=tuple(r.delivered_per_s for r in runs),
        cpu_percent=_median_cpu([r.cpu_percent for r in runs]),
        server_cpu_us_per_msg=median_of(server_cost_us(r) for r in runs),
        problems=tuple(problems),
    )


def server_cost_us(result: LoadResult) -> float:
    """Server CPU microseconds per delivered message (NaN when not measured)."""
    shares = [result.cpu_percent.get(name) for name in ("server", "broker")]
    if shares[0] is None or result.delivered_per_s <= 0:
        return math.nan
    busy = sum(share or 0.0 for share in shares) / 100  # cores
    return busy / result.delivered_per_s * 1e6


def _relay_row(runs: Sequence[RelayResult]) -> RelayRow:
    return RelayRow(
        broker=runs[0].broker,
        runs=len(runs),
        window=runs[0].window,
        relayed_per_s=median_of(r.relayed_per_s for r in runs),
        relayed_runs=tuple(r.relayed_per_s for r in runs),
        cpu_percent=_median_cpu([r.cpu_percent for r in runs]),
        problems=tuple(f"run {r.run}: {e}" for r in runs for e in r.errors),
    )


def conclusions(rows: Sequence[LoadRow], relays: Sequence[RelayRow]) -> list[str]:
    """Targets met or missed (each broker its issue's), the end-to-end / raw ratio,
    separate versus inline, and Mosquitto versus the embedded broker."""
    lines: list[str] = []
    by_key = {(row.mode, row.phase): row for row in rows}
    relay_of = {relay.broker: relay for relay in relays}
    modes = list(dict.fromkeys(row.mode for row in rows))
    for mode in modes:
        broker = config(mode).broker
        fixed, full = by_key.get((mode, "fixed")), by_key.get((mode, "full"))
        if fixed is not None and fixed.offered_rate is not None:
            lines.append(
                latency_line(mode, broker, fixed.push_p99, fixed.offered_rate, fixed.users)
            )
        if full is not None:
            lines.append(throughput_line(mode, broker, full.delivered_per_s))
            relay = relay_of.get("embedded" if broker == "external" else broker)
            if relay is not None and relay.relayed_per_s > 0:
                lines.append(
                    f"{mode}: end-to-end / raw relay = {full.delivered_per_s:.0f} / "
                    f"{relay.relayed_per_s:.0f} = {full.delivered_per_s / relay.relayed_per_s:.2f}"
                )
    if {"separate", "inline"} <= set(modes):
        lines.append(compare_modes(by_key))
    lines += compare_brokers(by_key, modes)
    return lines + generator_warnings(rows, relays)


def compare_brokers(by_key: dict[tuple[str, str], LoadRow], modes: Sequence[str]) -> list[str]:
    """Mosquitto against the first embedded configuration, phase by phase."""
    embedded = next((mode for mode in modes if config(mode).broker == "embedded"), None)
    if embedded is None or "mosquitto" not in modes:
        return []
    lines = []
    full = by_key.get(("mosquitto", "full")), by_key.get((embedded, "full"))
    if full[0] is not None and full[1] is not None and full[1].delivered_per_s > 0:
        lines.append(
            f"mosquitto vs {embedded}: full speed {full[0].delivered_per_s:.0f} vs "
            f"{full[1].delivered_per_s:.0f} msg/s "
            f"(x{full[0].delivered_per_s / full[1].delivered_per_s:.2f}), server CPU "
            f"{full[0].server_cpu_us_per_msg:.0f} vs {full[1].server_cpu_us_per_msg:.0f} us/msg"
        )
    fixed = by_key.get(("mosquitto", "fixed")), by_key.get((embedded, "fixed"))
    if fixed[0] is not None and fixed[1] is not None:
        lines.append(
            f"mosquitto vs {embedded}: push p99 {fixed[0].push_p99:.1f} vs "
            f"{fixed[1].push_p99:.1f} ms at {fixed[0].offered_rate or 0:g} msg/s"
        )
    return lines


def generator_warnings(rows: Sequence[LoadRow], relays: Sequence[RelayRow]) -> list[str]:
    """Where the load generator (one thread) came close to a full core: it may be the limit."""
    named: list[tuple[str, dict[str, float]]] = [
        (f"{row.mode} {row.phase}", row.cpu_percent) for row in rows
    ]
    named += [(f"{relay.broker} raw relay", relay.cpu_percent) for relay in relays]
    return [
        f"warning: {name}: the load generator used {cpu['bench']:.0f}% of a core; "
        "the rate may be its limit rather than the server's"
        for name, cpu in named
        if cpu.get("bench", 0.0) >= GENERATOR_BUSY_PERCENT
    ]


def compare_modes(by_key: dict[tuple[str, str], LoadRow]) -> str:
    """Which broker placement to use: the higher full-speed rate, latency on a tie."""
    full = {m: by_key.get((m, "full")) for m in ("separate", "inline")}
    fixed = {m: by_key.get((m, "fixed")) for m in ("separate", "inline")}
    separate, inline = full["separate"], full["inline"]
    if separate is not None and inline is not None:
        faster, slower = sorted((separate, inline), key=lambda r: -r.delivered_per_s)
        gain = faster.delivered_per_s / slower.delivered_per_s - 1 if slower.delivered_per_s else 1
        if gain > TIE_FRACTION:
            return (
                f"broker process: {faster.mode} ({faster.delivered_per_s:.0f} vs "
                f"{slower.delivered_per_s:.0f} msg/s at full speed, +{gain:.0%})"
            )
    low_separate, low_inline = fixed["separate"], fixed["inline"]
    if low_separate is None or low_inline is None:
        return "broker process: no difference in throughput, and no fixed-rate run to decide"
    best = min((low_separate, low_inline), key=lambda r: r.push_p99)
    return (
        f"broker process: {best.mode} (throughput within {TIE_FRACTION:.0%}; push p99 "
        f"{low_separate.push_p99:.1f} ms separate vs {low_inline.push_p99:.1f} ms inline)"
    )
