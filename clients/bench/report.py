"""The bench's results: medians over runs, the targets, and the tables printed at the end.

Tables are Markdown, so that what the terminal shows is what BENCHMARKS.md quotes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from clients.bench.load import LoadResult
from clients.bench.relay import RelayResult
from clients.bench.stats import OTHERS, median_of

P99_TARGET_MS = 100.0
THROUGHPUT_TARGET = 400.0
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
    cpu_percent: dict[str, float]
    server_cpu_us_per_msg: float
    """CPU the server (backend and broker) spent per delivered message: unlike a rate,
    it hardly moves when other programs compete for the cores."""
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RelayRow:
    """The raw relay: median over runs."""

    runs: int
    window: int
    relayed_per_s: float
    cpu_percent: dict[str, float]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything the final tables show; `ok` is False on any loss, gap or failure."""

    loads: list[LoadRow]
    relay: RelayRow | None
    conclusions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        rows: list[LoadRow | RelayRow] = [*self.loads, *([self.relay] if self.relay else [])]
        return not any(row.problems for row in rows)


def summarize(loads: Sequence[LoadResult], relays: Sequence[RelayResult]) -> Summary:
    """Group runs by (mode, phase), take medians, and draw the conclusions."""
    groups: dict[tuple[str, str], list[LoadResult]] = defaultdict(list)
    for result in loads:
        groups[(result.mode, result.phase)].append(result)
    rows = [_load_row(runs) for runs in groups.values()]
    relay = _relay_row(relays) if relays else None
    return Summary(rows, relay, conclusions(rows, relay))


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
        runs=len(runs),
        window=runs[0].window,
        relayed_per_s=median_of(r.relayed_per_s for r in runs),
        cpu_percent=_median_cpu([r.cpu_percent for r in runs]),
        problems=tuple(f"run {r.run}: {e}" for r in runs for e in r.errors),
    )


def conclusions(rows: Sequence[LoadRow], relay: RelayRow | None) -> list[str]:
    """Targets met or missed, the end-to-end / raw ratio, and separate versus inline."""
    lines: list[str] = []
    by_key = {(row.mode, row.phase): row for row in rows}
    modes = sorted({row.mode for row in rows})
    for mode in modes:
        fixed, full = by_key.get((mode, "fixed")), by_key.get((mode, "full"))
        if fixed is not None:
            verdict = "met" if fixed.push_p99 < P99_TARGET_MS else "MISSED"
            lines.append(
                f"{mode}: push p99 {fixed.push_p99:.1f} ms at {fixed.offered_rate:g} msg/s "
                f"with {fixed.users} users (target < {P99_TARGET_MS:g} ms): {verdict}"
            )
        if full is not None:
            verdict = "met" if full.delivered_per_s >= THROUGHPUT_TARGET else "MISSED"
            lines.append(
                f"{mode}: full speed {full.delivered_per_s:.0f} msg/s delivered end to end "
                f"(target >= {THROUGHPUT_TARGET:g}): {verdict}"
            )
            if relay is not None and relay.relayed_per_s > 0:
                lines.append(
                    f"{mode}: end-to-end / raw relay = {full.delivered_per_s:.0f} / "
                    f"{relay.relayed_per_s:.0f} = {full.delivered_per_s / relay.relayed_per_s:.2f}"
                )
    if {"separate", "inline"} <= set(modes):
        lines.append(compare_modes(by_key))
    return lines + generator_warnings(rows, relay)


def generator_warnings(rows: Sequence[LoadRow], relay: RelayRow | None) -> list[str]:
    """Where the load generator (one thread) came close to a full core: it may be the limit."""
    named: list[tuple[str, dict[str, float]]] = [
        (f"{row.mode} {row.phase}", row.cpu_percent) for row in rows
    ]
    if relay is not None:
        named.append(("raw relay", relay.cpu_percent))
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


def _number(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def render(summary: Summary) -> str:
    """The final tables and conclusions, as Markdown."""
    header = [
        "broker", "phase", "users", "offered/s", "accepted/s", "delivered/s", "push p50 ms",
        "p95", "p99", "max", "ack p99 ms", *(f"CPU {c} %" for c in CPU_COLUMNS),
        "server CPU us/msg", "redelivered", "problems",
    ]  # fmt: skip
    out = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for row in summary.loads:
        offered = _number(row.offered_rate) if row.offered_rate else f"window {row.window}"
        cpu = [_number(row.cpu_percent.get(name)) for name in CPU_COLUMNS]
        out.append(
            f"| {row.mode} | {row.phase}{'' if row.client == 'paho' else f' ({row.client})'} | "
            f"{row.users} | {offered} | "
            f"{_number(row.accepted_per_s)} | {_number(row.delivered_per_s)} | "
            f"{_number(row.push_p50, 1)} | {_number(row.push_p95, 1)} | "
            f"{_number(row.push_p99, 1)} | {_number(row.push_max, 1)} | "
            f"{_number(row.ack_p99, 1)} | " + " | ".join(cpu) + " | "
            f"{_number(row.server_cpu_us_per_msg)} | {row.redelivered} | "
            f"{'; '.join(row.problems) or 'none'} |"
        )
    if summary.relay is not None:
        relay = summary.relay
        cpu = [_number(relay.cpu_percent.get(name)) for name in ("broker", "bench", OTHERS)]
        out += [
            "",
            "| raw QoS 1 relay | window | relayed/s | CPU broker % | CPU bench % | "
            "CPU others % | problems |",
            "|---|---|---|---|---|---|---|",
            f"| 1 publisher -> 1 subscriber | {relay.window} | "
            f"{_number(relay.relayed_per_s)} | " + " | ".join(cpu) + " | "
            f"{'; '.join(relay.problems) or 'none'} |",
        ]
    if summary.loads and summary.loads[0].runs > 1:
        out += ["", f"Medians of {summary.loads[0].runs} runs; problems summed over them."]
    out += ["", *(f"- {line}" for line in summary.conclusions)]
    out.append(f"\nresult: {'ok' if summary.ok else 'FAILED (see problems)'}")
    return "\n".join(out)
