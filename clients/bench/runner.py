"""The scenario: for each run and broker configuration, a fresh server, the fixed-rate
and full-speed phases; then, for each broker measured, the raw relay on the data dir
of its first configuration, with the server stopped.

Configurations are interleaved run by run, the first one moving along each run
(`configs.rotated`), so that a slow minute on a shared machine does not land on one
configuration only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from clients.bench.configs import config, rotated
from clients.bench.load import LoadResult, LoadSpec, run_load
from clients.bench.procfs import wait_for_quiet
from clients.bench.progress import ProgressLine
from clients.bench.relay import RelayResult, RelaySpec, measure_relay
from clients.bench.server import BenchServer
from clients.bench.standalone import standalone_broker
from clients.bench.stats import OTHERS

T = TypeVar("T")

PHASES = ("fixed", "full", "relay")
QUIET_SAMPLE_S = 2.0
QUIET_GIVE_UP_S = 300.0
NOISY_RETRIES = 2


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """What to run; the defaults are `make bench`'s scenario, minus the comparisons."""

    users: int = 100
    rate: float = 200.0
    duration_s: float = 20.0
    window: int = 10
    phases: tuple[str, ...] = PHASES
    modes: tuple[str, ...] = ("separate",)
    """Broker configurations (`configs.CONFIGS`), in the order of the first run."""
    runs: int = 1
    relay: RelaySpec = field(default_factory=RelaySpec)
    drain_s: float = 15.0
    max_messages: int = 1_000_000
    seed: int = 1
    server: str | None = None
    data_dir: Path | None = None
    client: str = "paho"
    quiet_below: float | None = None
    """Before each phase, wait for the machine to be busy less than this (% of a core);
    measure a phase again when other programs used more than this during it."""

    def load_specs(self, run: int) -> list[LoadSpec]:
        """The load phases of one run; a new seed each run, the same across placements."""
        rates = {"fixed": self.rate, "full": None}
        return [
            LoadSpec(
                phase,
                users=self.users,
                duration_s=self.duration_s,
                rate=rates[phase],
                window=self.window,
                max_messages=self.max_messages,
                drain_s=self.drain_s,
                seed=self.seed + run,
                client=self.client,
            )
            for phase in ("fixed", "full")
            if phase in self.phases
        ]


@dataclass
class BenchResults:
    """Every run's results, in the order they were measured."""

    loads: list[LoadResult] = field(default_factory=list)
    relays: list[RelayResult] = field(default_factory=list)


def run_bench(plan: BenchPlan, progress: ProgressLine) -> BenchResults:
    """Run the plan; a server that will not start raises `ServerFailure`."""
    results = BenchResults()
    with tempfile.TemporaryDirectory(prefix="mqchat-bench-") as tmp:
        for run in range(1, plan.runs + 1):
            # The first server of each broker: its data dir serves that broker's relay.
            relay_servers: dict[str, BenchServer] = {}
            modes = rotated(plan.modes, run) if plan.server is None else ("external",)
            for mode in modes:
                with _server(plan, mode, Path(tmp) / f"run{run}-{mode}") as server:
                    relay_servers.setdefault(config(mode).broker, server)
                    for spec in plan.load_specs(run):
                        load = functools.partial(_load, spec, server, run, progress)
                        results.loads.append(_measured(plan, progress, load, _load_line))
            if "relay" not in plan.phases:
                continue
            for broker, server in sorted(relay_servers.items()):
                relay = functools.partial(_relay, plan.relay, server, run, broker)
                results.relays.append(_measured(plan, progress, relay, _relay_line))
    return results


class _Measurement(Protocol):
    @property
    def cpu_percent(self) -> dict[str, float]: ...


M = TypeVar("M", bound=_Measurement)


def _measured(
    plan: BenchPlan, progress: ProgressLine, measure: Callable[[], M], describe: Callable[[M], str]
) -> M:
    """Measure once; with `quiet_below`, wait for a quiet machine first, and measure again
    (at most `NOISY_RETRIES` times) when other programs used more CPU than that meanwhile."""
    attempts = 1 + (NOISY_RETRIES if plan.quiet_below is not None else 0)
    for attempt in range(1, attempts + 1):
        _wait_for_quiet(plan, progress)
        result = measure()
        others = result.cpu_percent.get(OTHERS, 0.0)
        if plan.quiet_below is None or others < plan.quiet_below or attempt == attempts:
            progress.note(describe(result))
            return result
        progress.note(f"{describe(result)}; others used {others:.0f}% meanwhile: measuring again")
    raise AssertionError("unreachable")


def _wait_for_quiet(plan: BenchPlan, progress: ProgressLine) -> None:
    if plan.quiet_below is None:
        return
    progress.update(f"waiting for the machine to be busy less than {plan.quiet_below:g}%")
    busy = wait_for_quiet(plan.quiet_below, QUIET_SAMPLE_S, QUIET_GIVE_UP_S)
    if busy is not None and busy >= plan.quiet_below:
        progress.note(f"the machine is still {busy:.0f}% busy; measuring anyway")


@contextlib.contextmanager
def _server(plan: BenchPlan, mode: str, data_dir: Path) -> Iterator[BenchServer]:
    if plan.server is not None:
        assert plan.data_dir is not None  # the command line insists
        yield BenchServer.external(plan.server, plan.data_dir)
        return
    with BenchServer.started(data_dir, mode) as server:
        yield server


def _load(spec: LoadSpec, server: BenchServer, run: int, progress: ProgressLine) -> LoadResult:
    return _run_async(run_load(spec, server, run, progress.update))


def _relay(spec: RelaySpec, server: BenchServer, run: int, broker: str) -> RelayResult:
    user, token = next(iter(server.create_users(1, f"r{run}").items()))
    # An external server's broker is unknown: the relay measures the embedded one.
    kind = "embedded" if broker == "external" else broker
    with standalone_broker(server.data_dir, kind) as (port, pid):
        return _run_async(measure_relay(spec, port, pid, server.data_dir, user, token, run, kind))


def _relay_line(relay: RelayResult) -> str:
    failed = f" FAILED: {'; '.join(relay.errors)}" if relay.errors else ""
    return f"{relay.broker} relay run {relay.run}: {relay.relayed_per_s:.0f} msg/s{failed}"


def _load_line(result: LoadResult) -> str:
    status = (
        "ok" if result.ok else "FAILED: " + "; ".join((*result.verdict.problems, *result.errors))
    )
    return (
        f"{result.mode} {result.phase} run {result.run}: {result.verdict.sent} sent, "
        f"{result.delivered_per_s:.0f} delivered/s, push p99 {result.push.p99:.1f} ms, {status}"
    )


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """One event loop per phase (uvloop when installed): nothing leaks between phases."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)
