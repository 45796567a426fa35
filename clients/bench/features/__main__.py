"""`python -m clients.bench.features [--quick] [--brokers embedded,mosquitto] [--json FILE]`:
run every scenario on every broker, print one column per broker.

Scenarios run in turn, and within a scenario the brokers, each against a server of
its own: a slow minute on a shared machine then lands on both brokers' runs of one
scenario rather than on all of one broker's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from clients.bench.configs import parse_brokers
from clients.bench.features import connections, groups, presence, receipts
from clients.bench.procfs import wait_for_quiet

Sizes = dict[str, dict[str, Any]]
FULL: Sizes = {
    "group": {"members": 256, "probes": 30, "sustain_s": 10.0, "window": 20},
    "receipts": {"users": 50, "per_side": 200, "receipts": 200},
    "flips": {"users": 200, "rounds": 3},
    "restart": {"users": 1000},
    "connections": {"users": 10_000, "hold_s": 10.0, "probes": 20},
}
QUICK: Sizes = {
    "group": {"members": 16, "probes": 5, "sustain_s": 1.0, "window": 20},
    "receipts": {"users": 20, "per_side": 10, "receipts": 20},
    "flips": {"users": 50, "rounds": 1},
    "restart": {"users": 50},
    "connections": {"users": 50, "hold_s": 0.5, "probes": 2},
}
SCENARIOS = tuple(FULL)
SCENARIO_LIMIT_S = 600.0  # each scenario, full size
QUIET_SAMPLE_S = 2.0
QUIET_GIVE_UP_S = 300.0

Step = Callable[[Path, str], Awaitable[dict[str, Any]]]
STEPS: dict[str, Callable[[dict[str, Any]], Step]] = {
    "group": lambda size: lambda work, broker: groups.run(work / "group", broker=broker, **size),
    "receipts": lambda size: (
        lambda work, broker: receipts.run(work / "receipts", broker=broker, **size)
    ),
    "flips": lambda size: lambda work, broker: presence.flips_per_s(work, broker=broker, **size),
    "restart": lambda size: (
        lambda work, broker: presence.online_after_restart(work, broker=broker, **size)
    ),
    "connections": lambda size: lambda work, broker: connections.run(work, broker=broker, **size),
}


async def run_all(
    sizes: Sizes,
    workdir: Path,
    brokers: Sequence[str] = ("embedded",),
    scenarios: Sequence[str] = SCENARIOS,
    quiet_below: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Every scenario on every broker, each against a server of its own; broker -> report."""
    report: dict[str, dict[str, Any]] = {broker: {} for broker in brokers}
    for name in scenarios:
        for broker in brokers:
            if quiet_below is not None:
                busy = await asyncio.to_thread(
                    wait_for_quiet, quiet_below, QUIET_SAMPLE_S, QUIET_GIVE_UP_S
                )
                print(f"{name} on {broker}: machine {busy or 0:.0f}% busy", file=sys.stderr)
            started = time.monotonic()
            size = sizes[name]
            if name == "receipts" and broker != brokers[0]:
                size = {**size, "store_cost": False}  # the store alone: no broker in it
            step = STEPS[name](size)(workdir / broker, broker)
            report[broker] |= await asyncio.wait_for(step, SCENARIO_LIMIT_S)
            print(f"{name} on {broker}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    return report


def _shown(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:,.1f}" if math.isfinite(value) else "-"
    return value


def markdown(report: dict[str, dict[str, Any]]) -> str:
    """The report as a markdown table: one row per metric, one column per broker."""
    brokers = list(report)
    lines = ["| metric | " + " | ".join(brokers) + " |", "|---" * (len(brokers) + 1) + "|"]
    keys = list(dict.fromkeys(key for values in report.values() for key in values))
    for key in keys:
        cells = [str(_shown(report[broker].get(key, "-"))) for broker in brokers]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench.features")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, under 30 s a broker")
    parser.add_argument(
        "--brokers",
        default="embedded",
        help="comma-separated brokers to run side by side: embedded, mosquitto",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios (default: all of {', '.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--quiet-below",
        type=float,
        help="before each server start, wait (up to 5 min) until the machine is busy "
        "less than this %% of one core",
    )
    parser.add_argument("--json", type=Path, help="also write the report here (broker -> values)")
    args = parser.parse_args(argv)
    try:
        brokers = parse_brokers(args.brokers)
    except ValueError as error:
        parser.error(str(error))
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if not scenarios or not set(scenarios) <= set(SCENARIOS):
        parser.error(f"--scenarios takes some of {', '.join(SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="mqchat-features-") as tmp:
        report = asyncio.run(
            run_all(QUICK if args.quick else FULL, Path(tmp), brokers, scenarios, args.quiet_below)
        )
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
