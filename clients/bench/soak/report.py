"""The soak's outputs: samples as CSV, a PNG of memory and p99 over time, a markdown
table, and the verdicts (memory flat after warm-up, p99 stable, nothing lost)."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Sample:
    """One 10 s sample. RSS in MiB; CPU in % of one core over the window."""

    t_s: float
    server_rss_mib: float
    broker_rss_mib: float
    server_cpu_pct: float
    broker_cpu_pct: float
    bench_cpu_pct: float  # this load generator
    machine_cpu_pct: float  # every process on the machine (of 100 x cores)
    online: int
    sent: int
    acked: int
    delivered_live: int
    delivered_sync: int
    redelivered: int
    receipts_sent: int
    receipt_events: int
    presence: int
    reconnects: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    ack_p99_ms: float


@dataclass(frozen=True, slots=True)
class MemoryVerdict:
    """RSS after warm-up: start and end levels (medians of a few samples) and the slope."""

    process: str
    start_mib: float
    end_mib: float
    slope_mib_per_h: float
    flat: bool

    def line(self) -> str:
        word = "flat" if self.flat else "GROWING"
        return (
            f"{self.process} RSS {self.start_mib:.1f} -> {self.end_mib:.1f} MiB after warm-up "
            f"({self.end_mib - self.start_mib:+.1f} MiB, slope {self.slope_mib_per_h:+.1f} "
            f"MiB/h): {word}"
        )


def slope_per_hour(times_s: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of `values` over `times_s`, per hour (0 for under 2 points)."""
    if len(times_s) < 2:
        return 0.0
    mean_t, mean_v = statistics.fmean(times_s), statistics.fmean(values)
    spread = sum((t - mean_t) ** 2 for t in times_s)
    if spread == 0:
        return 0.0
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True)) / spread
    return slope * 3600


def memory_verdict(
    samples: Sequence[Sample], process: str, warmup_s: float, edge: int = 3
) -> MemoryVerdict:
    """Whether `process`'s RSS ("server" or "broker") is flat after `warmup_s`.

    Flat: the median of the last `edge` samples is within max(8 MiB, 5%) of the median of
    the first `edge` after warm-up. Garbage collection and allocator caches make RSS
    wobble by a few MiB; a leak shows as a steady climb, which the slope shows too.
    """
    kept = [s for s in samples if s.t_s >= warmup_s]
    values = [getattr(s, f"{process}_rss_mib") for s in kept]
    if not values:
        return MemoryVerdict(process, math.nan, math.nan, math.nan, False)
    start = statistics.median(values[:edge])
    end = statistics.median(values[-edge:])
    allowed = max(8.0, 0.05 * start)
    slope = slope_per_hour([s.t_s for s in kept], values)
    return MemoryVerdict(process, start, end, slope, end - start <= allowed)


def table_rows(samples: Sequence[Sample], every: int) -> list[Sample]:
    """Every `every`-th sample, the last one always included."""
    rows = list(samples[every - 1 :: max(1, every)])
    if samples and (not rows or rows[-1] is not samples[-1]):
        rows.append(samples[-1])
    return rows


def markdown_table(samples: Sequence[Sample], every_s: float, sample_s: float) -> str:
    """The table for BENCHMARKS.md: memory, CPU, rates and latency of some samples (each
    sample's own window of `sample_s` seconds)."""
    header = (
        "| min | server RSS MiB | broker RSS MiB | CPU server / broker / bench / machine % | "
        "sent/s | delivered/s (live + sync) | receipts/s | push p50 / p99 ms |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    every = max(1, round(every_s / sample_s))
    return header + "\n".join(_row(s, sample_s) for s in table_rows(samples, every))


def _row(sample: Sample, window_s: float) -> str:
    delivered = (sample.delivered_live + sample.delivered_sync) / window_s
    return (
        f"| {sample.t_s / 60:.1f} | {sample.server_rss_mib:.1f} | {sample.broker_rss_mib:.1f} | "
        f"{sample.server_cpu_pct:.0f} / {sample.broker_cpu_pct:.0f} / "
        f"{sample.bench_cpu_pct:.0f} / {sample.machine_cpu_pct:.0f} | "
        f"{sample.sent / window_s:.1f} | {delivered:.0f} | "
        f"{sample.receipts_sent / window_s:.0f} | {sample.p50_ms:.1f} / {sample.p99_ms:.1f} |"
    )


def write_csv(samples: Sequence[Sample], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Sample)])
        writer.writeheader()
        for sample in samples:
            writer.writerow(asdict(sample))


def read_csv(path: Path) -> list[Sample]:
    """Samples back from `write_csv` (to plot a run again)."""
    # The annotations are strings ("int", "float"): the module postpones their evaluation.
    ints = {f.name for f in fields(Sample) if f.type == "int"}

    def value(name: str, text: str) -> Any:
        return int(text) if name in ints else float(text)

    with path.open(newline="") as handle:
        return [
            Sample(**{k: value(k, v) for k, v in row.items()}) for row in csv.DictReader(handle)
        ]


def write_plot(samples: Sequence[Sample], path: Path, title: str) -> None:
    """Memory (server, broker), push latency (p50, p99) and CPU against minutes, one PNG.

    The CPU panel shows the whole machine too: on a shared machine, latency spikes line
    up with other programs' load.
    """
    import matplotlib  # the `soak` extra: imported here so that nothing else needs it

    matplotlib.use("Agg")
    from matplotlib import pyplot

    minutes = [s.t_s / 60 for s in samples]
    figure, (memory, latency, cpu) = pyplot.subplots(
        3, 1, figsize=(9, 7.5), sharex=True, height_ratios=[3, 3, 2]
    )
    memory.plot(minutes, [s.server_rss_mib for s in samples], label="server (backend)")
    memory.plot(minutes, [s.broker_rss_mib for s in samples], label="broker process")
    memory.set_ylabel("RSS, MiB")
    memory.set_ylim(bottom=0)
    memory.legend(loc="lower right")
    latency.plot(minutes, [s.p99_ms for s in samples], label="p99", color="tab:red")
    latency.plot(minutes, [s.p50_ms for s in samples], label="p50", color="tab:green")
    latency.set_ylabel("push latency, ms\n(10 s windows)")
    latency.set_ylim(bottom=0)
    latency.legend(loc="upper right")
    cpu.plot(minutes, [s.machine_cpu_pct for s in samples], label="whole machine", color="grey")
    cpu.plot(minutes, [s.server_cpu_pct for s in samples], label="server")
    cpu.plot(minutes, [s.broker_cpu_pct for s in samples], label="broker")
    cpu.set_ylabel("CPU, % of a core")
    cpu.set_ylim(bottom=0)
    cpu.set_xlabel("minutes")
    cpu.legend(loc="upper right", fontsize=8, ncol=3)
    for axes in (memory, latency, cpu):
        axes.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    pyplot.close(figure)
