"""`mqchat bench`: load 1:1 messaging end to end, check nothing was lost, print the numbers.

Progress goes to stderr, the final tables (Markdown) to stdout, every number to
`--json FILE`. The exit code is 1 when a message was lost, a seq skipped, a phase
timed out or a server failed; missing a performance target is reported, not fatal.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import signal
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from clients.bench.configs import configurations, parse_brokers
from clients.bench.procfs import cpu_model, memory_gib
from clients.bench.progress import ProgressLine
from clients.bench.relay import DEFAULT_WINDOW as DEFAULT_RELAY_WINDOW
from clients.bench.relay import RelaySpec
from clients.bench.report import Summary, summarize
from clients.bench.runner import PHASES, BenchPlan, BenchResults, run_bench
from clients.bench.server import ServerFailure
from clients.bench.tables import render


class BrokerProcess(StrEnum):
    SEPARATE = "separate"
    INLINE = "inline"


class ClientKind(StrEnum):
    PAHO = "paho"
    RAW = "raw"


class Phase(StrEnum):
    FIXED = "fixed"
    FULL = "full"
    RELAY = "relay"


def bench(
    users: Annotated[int, typer.Option(min=2, help="Connected users per phase.")] = 100,
    rate: Annotated[
        float, typer.Option(min=0.1, help="Fixed-rate phase: sends per second, all users.")
    ] = 200.0,
    duration: Annotated[float, typer.Option(min=0.1, help="Seconds of load per phase.")] = 20.0,
    window: Annotated[
        int, typer.Option(min=1, help="Full-speed phase: unacked sends per user.")
    ] = 10,
    phase: Annotated[
        list[Phase] | None,
        typer.Option(help="Phases to run (repeatable) [default: fixed, full, relay]."),
    ] = None,
    brokers: Annotated[
        str,
        typer.Option(help="Brokers to measure side by side, comma-separated: embedded, mosquitto."),
    ] = "embedded",
    broker_process: Annotated[
        BrokerProcess, typer.Option(help="Where the embedded broker runs.")
    ] = BrokerProcess.SEPARATE,
    client: Annotated[
        ClientKind,
        typer.Option(
            help="Load phases' MQTT client: paho, or a bare one that leaves the CPU to the server."
        ),
    ] = ClientKind.PAHO,
    compare_process: Annotated[
        bool,
        typer.Option(help="Measure both placements of the embedded broker, side by side."),
    ] = False,
    runs: Annotated[int, typer.Option(min=1, help="Repeat everything; report medians.")] = 1,
    relay_duration: Annotated[float, typer.Option(min=0.1, help="Seconds of raw relay.")] = 5.0,
    relay_window: Annotated[
        int, typer.Option(min=1, help="Raw relay: publishes not yet received.")
    ] = DEFAULT_RELAY_WINDOW,
    drain: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for in-flight acks and messages.")
    ] = 15.0,
    max_messages: Annotated[
        int, typer.Option(min=1, help="Most sends per phase, whatever the duration.")
    ] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed of who sends to whom.")] = 1,
    server: Annotated[
        str | None,
        typer.Option(help="127.0.0.1:<mqtt port> of a running server (needs --data-dir)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="The running server's data dir (users are added).")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write every number to this file.")
    ] = None,
    quiet_below: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Before each server start, wait (up to 5 min) until the machine is "
            "busy less than this % of one core: on a shared machine, others' load skews.",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Live progress on stderr.")] = True,
) -> None:
    """Load 1:1 messaging (fixed rate, then full speed), verify, and measure the raw relay,
    for each broker configuration."""
    if (server is None) != (data_dir is None):
        _fail("--server and --data-dir go together")
    try:
        broker_names = parse_brokers(brokers)
    except ValueError as error:
        _fail(str(error))
    modes = configurations(
        broker_names, compare_process=compare_process, broker_process=broker_process.value
    )
    plan = BenchPlan(
        users=users,
        rate=rate,
        duration_s=duration,
        window=window,
        phases=tuple(p.value for p in phase) if phase else PHASES,
        modes=modes,
        runs=runs,
        relay=RelaySpec(relay_duration, relay_window, max_messages),
        drain_s=drain,
        max_messages=max_messages,
        seed=seed,
        server=server,
        data_dir=data_dir,
        client=client.value,
        quiet_below=quiet_below,
    )
    # SIGTERM unwinds like Ctrl-C, so that the servers started are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = datetime.now(UTC)
    line = ProgressLine(live=progress)
    try:
        results = run_bench(plan, line)
    except ServerFailure as error:
        _fail(str(error))
    finally:
        line.clear()
    summary = summarize(results.loads, results.relays)
    print(render(summary))
    if json_file is not None:
        json_file.write_text(json.dumps(_as_json(plan, started, results, summary), indent=2))
    if not summary.ok:
        raise typer.Exit(code=1)


def machine_info() -> dict[str, Any]:
    """What BENCHMARKS.md records about the machine."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _as_json(
    plan: BenchPlan, started: datetime, results: BenchResults, summary: Summary
) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        # JSON has no NaN: a percentile of nothing becomes null.
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    document: dict[str, Any] = plain(
        {
            "started": started.isoformat(timespec="seconds"),
            "machine": machine_info(),
            "plan": dataclasses.asdict(plan),
            "summary": {
                "loads": [dataclasses.asdict(row) for row in summary.loads],
                "relays": [dataclasses.asdict(row) for row in summary.relays],
                "conclusions": summary.conclusions,
                "ok": summary.ok,
            },
            "runs": {
                "loads": [{**dataclasses.asdict(r), "ok": r.ok} for r in results.loads],
                "relays": [dataclasses.asdict(r) for r in results.relays],
            },
        }
    )
    return document


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)
