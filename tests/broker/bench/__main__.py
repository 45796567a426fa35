"""`python -m tests.broker.bench`: the broker against stock amqtt, in one run.

    python -m tests.broker.bench [compare] [--runs 3] [--connections 10000] ...
    python -m tests.broker.bench refused [--stock] [--count 3000]
    python -m tests.broker.bench throughput [--stock] [--users 50]

`compare` (the default, what `make bench` runs) measures, for stock amqtt 0.12.1 with
mqchat's plugins and for the patched broker, each in a process of its own:
(a) QoS 1 relay throughput, one publisher to one subscriber; (b) latency of a fan-out
of one message to 256 per-user topics; (c) 10,000 persistent connections with a
subscription each: connect time, holding them, and the broker's shutdown under them;
(d) resident memory per idle connection. Stock amqtt needs minutes for (c), so its
run stops at `--stock-connections` or `--stock-time-cap`, and the rest is
extrapolated, labelled as such. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from backend.accounts import backend_password
from tests.broker.bench import throughput
from tests.broker.bench.connections import many_connections
from tests.broker.bench.process import BrokerProcess, OthersLoad, raise_fd_limit, wait_for_quiet
from tests.broker.bench.report import VARIANTS, Results, machine, percentile, table
from tests.broker.bench.traffic import WARM_UP, fan_out, relay
from tests.broker.support import make_data_dir, tokens

FAN_OUT_TOPICS = 256


def compare(args: argparse.Namespace) -> None:
    limit = raise_fd_limit()
    if limit < args.connections + 100:
        sys.exit(f"open-file limit {limit} is too low for {args.connections} connections")
    results = Results()
    with tempfile.TemporaryDirectory(prefix="broker-bench-") as tmp:
        data_dir = Path(tmp)
        users = tokens(*(f"u{n}" for n in range(max(args.connections, FAN_OUT_TOPICS) + 1)))
        _progress(f"creating {len(users):,} accounts")
        make_data_dir(data_dir, users)
        secret = backend_password(data_dir)
        for run in range(1, args.runs + 1):
            for variant in args.variants:
                _traffic_run(data_dir, variant, users, secret, args, results, run)
        for run in range(1, args.connection_runs + 1):
            for variant in args.variants:
                _connections_run(data_dir, variant, users, args, results, run)
    print(f"Broker benchmark, {machine()}\n")
    print(table(results, args.connections))
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(results), indent=1))


def _traffic_run(
    data_dir: Path,
    variant: str,
    users: dict[str, str],
    secret: str,
    args: argparse.Namespace,
    results: Results,
    run: int,
) -> None:
    _wait_for_quiet(args)
    with BrokerProcess(data_dir, stock=variant == "stock") as broker:
        if "relay" in args.only:
            user = f"u{len(users) - 1}"
            load, cpu = OthersLoad(broker), broker.cpu_seconds()
            rate = asyncio.run(
                relay(broker.port, user, users[user], secret, args.relay_messages, args.window)
            )
            results.relay[variant].append(rate)
            # Warm-up included: steadier than the rate when others share the machine.
            spent = broker.cpu_seconds() - cpu
            results.relay_cpu_us[variant].append(spent / (args.relay_messages + WARM_UP) * 1e6)
            results.others["relay"].append(load.percent())
            _progress(
                f"run {run} {variant}: relay {rate:,.0f} msg/s, "
                f"{results.relay_cpu_us[variant][-1]:.0f} us of broker CPU each "
                f"(others used {results.others['relay'][-1]:.0f}% of a core)"
            )
        if "fanout" in args.only:
            inboxes = {user: users[user] for user in list(users)[:FAN_OUT_TOPICS]}
            load = OthersLoad(broker)
            latencies = asyncio.run(fan_out(broker.port, inboxes, secret, args.fanout_rounds))
            results.fan_out[variant].append(latencies)
            results.others["fanout"].append(load.percent())
            _progress(
                f"run {run} {variant}: fan-out to {FAN_OUT_TOPICS} p50 "
                f"{percentile(latencies, 0.5) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms "
                f"(others used {results.others['fanout'][-1]:.0f}% of a core)"
            )


def _connections_run(
    data_dir: Path,
    variant: str,
    users: dict[str, str],
    args: argparse.Namespace,
    results: Results,
    run: int,
) -> None:
    if "connections" not in args.only:
        return
    stock = variant == "stock"
    _wait_for_quiet(args)
    with BrokerProcess(data_dir, stock=stock) as broker:
        result = asyncio.run(
            many_connections(
                broker,
                users,
                target=args.connections,
                count_cap=args.stock_connections if stock else args.connections,
                time_cap_s=args.stock_time_cap if stock else args.time_cap,
                hold_s=args.hold,
            )
        )
    results.connections[variant].append(result)
    results.others["connections"].append(result.others_percent)
    shutdown = "killed" if result.shutdown_s is None else f"{result.shutdown_s:.1f}s"
    _progress(
        f"run {run} {variant}: {result.connected:,} connected in {result.connect_s:.1f}s"
        f"{f' (stopped: {result.stopped_early})' if result.stopped_early else ''}, "
        f"{result.bytes_per_connection / 1024:.1f} KiB each, {result.dropped} dropped while held, "
        f"shutdown {shutdown} (others used {result.others_percent:.0f}% of a core)"
    )


def _wait_for_quiet(args: argparse.Namespace) -> None:
    if args.quiet_below is not None:
        _progress(f"waiting for the machine to be busy less than {args.quiet_below:g}% of a core")
        busy = wait_for_quiet(args.quiet_below)
        if busy >= args.quiet_below:
            _progress(f"gave up waiting: still {busy:.0f}% busy")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.broker.bench")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("compare", help="stock against patched (the default)")
    run.add_argument("--runs", type=int, default=3, help="runs of (a) and (b)")
    run.add_argument("--connection-runs", type=int, default=1, help="runs of (c) and (d)")
    run.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    run.add_argument(
        "--only", nargs="+", choices=("relay", "fanout", "connections"),
        default=["relay", "fanout", "connections"],
    )  # fmt: skip
    run.add_argument("--relay-messages", type=int, default=20_000)
    run.add_argument("--window", type=int, default=20, help="relay: PUBLISHes in flight")
    run.add_argument("--fanout-rounds", type=int, default=30)
    run.add_argument("--connections", type=int, default=10_000)
    run.add_argument("--time-cap", type=float, default=300.0, help="patched: connect seconds")
    run.add_argument("--stock-connections", type=int, default=3000)
    run.add_argument("--stock-time-cap", type=float, default=120.0)
    run.add_argument("--hold", type=float, default=10.0, help="seconds to hold the connections")
    run.add_argument(
        "--quiet-below", type=float, metavar="PERCENT",
        help="before each broker start, wait (up to 2 min) until the machine is busy less than this",
    )  # fmt: skip
    run.add_argument("--json", type=Path, help="also write the raw results here")
    throughput.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("-"):
        argv = ["compare", *argv]
    args = _parser().parse_args(argv)
    if args.command == "compare":
        compare(args)
    else:
        throughput.run(args)


if __name__ == "__main__":
    main()
