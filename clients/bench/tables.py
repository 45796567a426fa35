"""The bench's final Markdown: broker configurations side by side, then every number.

The side-by-side table has one column per configuration (embedded separate, embedded
inline, Mosquitto, in the order measured) and a few rows per phase, so that the
brokers compare at a glance; the table after it is one row per (configuration, phase)
with every column, as the JSON has it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from clients.bench.configs import config
from clients.bench.report import CPU_COLUMNS, LoadRow, RelayRow, Summary
from clients.bench.stats import OTHERS

RELAY_CPU = ("broker", "bench", OTHERS)


def number(value: float | None, digits: int = 0) -> str:
    """A table cell: "-" for what was not measured (None or NaN)."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _runs(values: Sequence[float]) -> str:
    return f" ({', '.join(number(v) for v in values)})" if len(values) > 1 else ""


def _load_cells(row: LoadRow) -> list[tuple[str, str]]:
    """(measure, cell) of one phase in one configuration."""
    cpu = " / ".join(number(row.cpu_percent.get(name)) for name in CPU_COLUMNS)
    problems = "; ".join(row.problems) or "none"
    return [
        ("delivered/s", number(row.delivered_per_s) + _runs(row.delivered_runs)),
        (
            "push p50 / p95 / p99 ms",
            f"{number(row.push_p50, 1)} / {number(row.push_p95, 1)} / {number(row.push_p99, 1)}",
        ),
        ("push max / ack p99 ms", f"{number(row.push_max, 1)} / {number(row.ack_p99, 1)}"),
        ("lost / duplicates / seq gaps", f"{row.lost} / {row.redelivered} / {row.seq_gaps}"),
        (f"CPU {' / '.join(CPU_COLUMNS)} %", cpu),
        ("server CPU us/msg (server + broker)", number(row.server_cpu_us_per_msg)),
        ("problems", problems),
    ]


def _relay_cells(relay: RelayRow) -> list[tuple[str, str]]:
    cpu = " / ".join(number(relay.cpu_percent.get(name)) for name in RELAY_CPU)
    return [
        ("relayed/s", number(relay.relayed_per_s) + _runs(relay.relayed_runs)),
        (f"CPU {' / '.join(RELAY_CPU)} %", cpu),
        ("problems", "; ".join(relay.problems) or "none"),
    ]


def _phase_title(row: LoadRow) -> str:
    client = "" if row.client == "paho" else f", {row.client} clients"
    if row.phase == "fixed":
        return f"fixed rate {number(row.offered_rate)} msg/s, {row.users} users{client}"
    return f"full speed, window {row.window}, {row.users} users{client}"


def side_by_side(summary: Summary) -> list[str]:
    """One column per configuration; phases as groups of rows."""
    modes = list(dict.fromkeys(row.mode for row in summary.loads))
    if not modes:
        return []
    by_key = {(row.mode, row.phase): row for row in summary.loads}
    header = ["phase", "measure", *(config(mode).label for mode in modes)]
    out = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]

    def group(title: str, cells: Callable[[str], list[tuple[str, str]] | None]) -> None:
        columns = [cells(mode) for mode in modes]
        measures = next((c for c in columns if c is not None), None)
        if measures is None:
            return
        for index, (measure, _) in enumerate(measures):
            values = [c[index][1] if c is not None else "-" for c in columns]
            out.append(f"| {title if index == 0 else ''} | {measure} | {' | '.join(values)} |")

    for phase in ("fixed", "full"):
        first = next((row for row in summary.loads if row.phase == phase), None)
        if first is not None:
            group(
                _phase_title(first),
                lambda mode, p=phase: (  # type: ignore[misc]
                    _load_cells(by_key[(mode, p)]) if (mode, p) in by_key else None
                ),
            )
    if summary.relays:
        window = summary.relays[0].window
        group(
            f"raw QoS 1 relay (no backend), window {window}",
            lambda mode: _relay_or_none(summary, mode),
        )
    return out


def _relay_or_none(summary: Summary, mode: str) -> list[tuple[str, str]] | None:
    broker = config(mode).broker
    relay = summary.relay_of("embedded" if broker == "external" else broker)
    return _relay_cells(relay) if relay is not None else None


def every_number(summary: Summary) -> list[str]:
    """One row per (configuration, phase) with every column; then the relays."""
    header = [
        "broker", "phase", "users", "offered/s", "accepted/s", "delivered/s", "push p50 ms",
        "p95", "p99", "max", "ack p99 ms", *(f"CPU {c} %" for c in CPU_COLUMNS),
        "server CPU us/msg", "redelivered", "problems",
    ]  # fmt: skip
    out = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for row in summary.loads:
        offered = number(row.offered_rate) if row.offered_rate else f"window {row.window}"
        cpu = [number(row.cpu_percent.get(name)) for name in CPU_COLUMNS]
        out.append(
            f"| {row.mode} | {row.phase}{'' if row.client == 'paho' else f' ({row.client})'} | "
            f"{row.users} | {offered} | "
            f"{number(row.accepted_per_s)} | {number(row.delivered_per_s)} | "
            f"{number(row.push_p50, 1)} | {number(row.push_p95, 1)} | "
            f"{number(row.push_p99, 1)} | {number(row.push_max, 1)} | "
            f"{number(row.ack_p99, 1)} | " + " | ".join(cpu) + " | "
            f"{number(row.server_cpu_us_per_msg)} | {row.redelivered} | "
            f"{'; '.join(row.problems) or 'none'} |"
        )
    if summary.relays:
        out += [
            "",
            "| raw QoS 1 relay | broker | window | relayed/s | CPU broker % | CPU bench % | "
            "CPU others % | problems |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for relay in summary.relays:
        cpu = [number(relay.cpu_percent.get(name)) for name in RELAY_CPU]
        out.append(
            f"| 1 publisher -> 1 subscriber | {relay.broker} | {relay.window} | "
            f"{number(relay.relayed_per_s)} | " + " | ".join(cpu) + " | "
            f"{'; '.join(relay.problems) or 'none'} |"
        )
    return out


def render(summary: Summary) -> str:
    """The final tables and conclusions, as Markdown."""
    out = side_by_side(summary)
    if out:
        out.append("")
    out += ["All numbers:", "", *every_number(summary)]
    if summary.loads and summary.loads[0].runs > 1:
        out += ["", f"Medians of {summary.loads[0].runs} runs; problems summed over them."]
    out += ["", *(f"- {line}" for line in summary.conclusions)]
    out.append(f"\nresult: {'ok' if summary.ok else 'FAILED (see problems)'}")
    return "\n".join(out)
