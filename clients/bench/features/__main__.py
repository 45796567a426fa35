"""`python -m clients.bench.features [--quick] [--json FILE]`: run all, print a table."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from clients.bench.features import groups, presence, receipts

Sizes = dict[str, dict[str, Any]]
FULL: Sizes = {
    "group": {"members": 256, "probes": 30, "sustain_s": 10.0, "window": 20},
    "receipts": {"users": 50, "per_side": 200, "receipts": 200},
    "flips": {"users": 200, "rounds": 3},
    "restart": {"users": 1000},
}
QUICK: Sizes = {
    "group": {"members": 16, "probes": 5, "sustain_s": 1.0, "window": 20},
    "receipts": {"users": 20, "per_side": 10, "receipts": 20},
    "flips": {"users": 50, "rounds": 1},
    "restart": {"users": 50},
}
SCENARIO_LIMIT_S = 600.0  # each scenario, full size


async def run_all(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    """Every scenario in turn, each against a server of its own."""
    report: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
        ("group", lambda: groups.run(workdir / "group", **sizes["group"])),
        ("receipts", lambda: receipts.run(workdir / "receipts", **sizes["receipts"])),
        ("flips", lambda: presence.flips_per_s(workdir, **sizes["flips"])),
        ("restart", lambda: presence.online_after_restart(workdir, **sizes["restart"])),
    ]
    for name, step in steps:
        started = time.monotonic()
        report |= await asyncio.wait_for(step(), SCENARIO_LIMIT_S)
        print(f"{name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report as a two-column markdown table."""
    lines = ["| metric | value |", "|---|---|"]
    for key, value in report.items():
        shown = f"{value:,.1f}" if isinstance(value, float) and math.isfinite(value) else value
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench.features")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, under 30 s")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mqchat-features-") as tmp:
        report = asyncio.run(run_all(QUICK if args.quick else FULL, Path(tmp)))
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
