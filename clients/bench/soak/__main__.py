"""`python -m clients.bench.soak [--minutes 30] [--broker embedded|mosquitto] [--out DIR]`.

Starts a fresh `mqchat serve` (default rate limits on: the load is well within them),
runs the soak, and writes `soak.csv`, `soak.png` and `soak.md` into `--out`; prints the
markdown table and the verdicts. Exit code 1 when anything was lost or memory grew.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

from clients.bench.features.common import FeatureServer
from clients.bench.procfs import cpu_model
from clients.bench.soak.report import (
    Sample,
    markdown_table,
    memory_verdict,
    read_csv,
    write_csv,
    write_plot,
)
from clients.bench.soak.run import Soak
from clients.bench.soak.spec import SoakResult, SoakSpec
from clients.bench.stats import LatencySummary

TABLE_ROWS = 12  # rows of the printed table, spread over the run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="load duration")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="messages a second, in all")
    parser.add_argument("--groups", type=int, default=12, help="groups of 20 to 50 members")
    parser.add_argument("--churn", type=float, default=30.0, help="users going offline a minute")
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument(
        "--warmup-minutes", type=float, default=None, help="default: a sixth of the run, <= 5"
    )
    parser.add_argument(
        "--broker",
        choices=("embedded", "mosquitto"),
        default="embedded",
        help="passed to `mqchat serve --broker`",
    )
    parser.add_argument("--out", type=Path, default=Path("soak-results"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--replot", type=Path, help="only draw the PNG of an earlier run's soak.csv, into --out"
    )
    parser.add_argument("--title", help="the plot's title, with --replot")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replot is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        title = args.title or f"mqchat soak ({args.replot})"
        write_plot(read_csv(args.replot), args.out / "soak.png", title)
        return 0
    spec = SoakSpec(
        users=args.users,
        rate=args.rate,
        groups=args.groups,
        churn_per_min=args.churn,
        duration_s=args.minutes * 60,
        sample_s=args.sample_s,
        seed=args.seed,
    )
    warmup_s = 60 * (
        args.warmup_minutes if args.warmup_minutes is not None else min(5.0, args.minutes / 6)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    started_at = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory(prefix="mqchat-soak-") as root:
        server = FeatureServer(
            Path(root) / "data",
            serve_args=[] if args.broker == "embedded" else ["--broker", args.broker],
            rate_limits=True,
        )
        server.start()
        try:
            result = asyncio.run(_run(spec, server, args.out))
        finally:
            server.stop()
            log = Path(root) / "server.log"
            if log.exists():
                (args.out / "server.log").write_text(log.read_text())
    title = (
        f"mqchat soak {started_at:%Y-%m-%d %H:%M} UTC, {args.broker} broker: {spec.users} users, "
        f"{spec.rate:g} msg/s, {args.minutes:g} min, {os.cpu_count()} cores"
    )
    write_csv(result.samples, args.out / "soak.csv")
    write_plot(result.samples, args.out / "soak.png", title)
    report = summary(result, spec, warmup_s, title)
    (args.out / "soak.md").write_text(report + "\n")
    print(report)
    flat = all(memory_verdict(result.samples, p, warmup_s).flat for p in ("server", "broker"))
    return 0 if result.ok and flat else 1


async def _run(spec: SoakSpec, server: FeatureServer, out: Path) -> SoakResult:
    samples: list[Sample] = []

    def progress(sample: Sample) -> None:
        samples.append(sample)
        write_csv(samples, out / "soak.csv")  # a run cut short still leaves its samples
        print(
            f"{sample.t_s / 60:5.1f} min  server {sample.server_rss_mib:6.1f} MiB  broker "
            f"{sample.broker_rss_mib:6.1f} MiB  sent {sample.sent:4d}  live "
            f"{sample.delivered_live:5d}  sync {sample.delivered_sync:4d}  p50/p99 "
            f"{sample.p50_ms:6.1f}/{sample.p99_ms:7.1f} ms  ack p99 {sample.ack_p99_ms:7.1f} ms  "
            f"online {sample.online}  "
            f"errors {sample.errors}",
            file=sys.stderr,
            flush=True,
        )

    return await Soak(spec, server, on_sample=progress).run()


def summary(result: SoakResult, spec: SoakSpec, warmup_s: float, title: str) -> str:
    """The markdown report: table, totals, verdicts."""
    totals = result.totals
    latency = LatencySummary.of(totals.latencies_ms)
    window_p99 = [
        s.p99_ms for s in result.samples if s.t_s >= warmup_s and not math.isnan(s.p99_ms)
    ]
    every_s = max(spec.sample_s, spec.duration_s / TABLE_ROWS)
    lines = [
        f"**{title}** ({cpu_model()})",
        "",
        markdown_table(result.samples, every_s, spec.sample_s),
        "",
        f"- sent {totals.sent:,}, acked {totals.acked:,}, refused {totals.refused}; "
        f"delivered {totals.live:,} live + {totals.synced:,} by sync after reconnects "
        f"({totals.redelivered:,} redelivered); receipts sent {totals.receipts_sent:,}, "
        f"receipt events {totals.receipt_events:,}; presence updates {totals.presence:,}; "
        f"reconnects {totals.reconnects:,}; errors {totals.errors}",
        f"- push latency over the run: p50 {latency.p50:.1f} ms, p99 {latency.p99:.1f} ms, "
        f"max {latency.max:.0f} ms; p99 of the 10 s windows after warm-up: median "
        f"{_median(window_p99):.1f} ms, worst {max(window_p99, default=math.nan):.1f} ms",
        f"- losses: {result.push_gaps.seqs} pushes missing for {result.push_gaps.pairs} "
        f"(member, conversation) pairs once all were back and synced, "
        f"{result.shortfall.seqs} messages still missing after a second sync; "
        f"{result.unanswered} sends unanswered"
        + "".join(f"\n  - {example}" for example in result.push_gaps.examples),
        *(f"- {memory_verdict(result.samples, p, warmup_s).line()}" for p in ("server", "broker")),
    ]
    if result.problems:
        lines.append(f"- problems ({len(result.problems)}): " + "; ".join(result.problems[:5]))
    return "\n".join(lines)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


if __name__ == "__main__":
    sys.exit(main())
