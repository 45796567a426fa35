"""The scenario's pure parts: which phases a run holds, and measuring noisy phases again."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clients.bench import runner
from clients.bench.progress import ProgressLine
from clients.bench.runner import BenchPlan
from clients.bench.server import BenchServer


@dataclass(frozen=True)
class Sample:
    cpu_percent: dict[str, float]


def test_load_specs_follow_the_phases_and_reseed_each_run() -> None:
    plan = BenchPlan(users=7, rate=50.0, duration_s=3.0, window=4, phases=("full", "relay"))
    (spec,) = plan.load_specs(run=2)
    assert (spec.phase, spec.rate, spec.window, spec.users) == ("full", None, 4, 7)
    assert plan.load_specs(run=1)[0].seed != spec.seed
    fixed, full = BenchPlan(rate=50.0).load_specs(run=1)
    assert (fixed.phase, fixed.rate, full.phase) == ("fixed", 50.0, "full")


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "wait_for_quiet", lambda *_: 0.0)


@pytest.mark.usefixtures("no_waiting")
def test_a_noisy_phase_is_measured_again() -> None:
    samples = iter([Sample({"others": 80.0}), Sample({"others": 5.0}), Sample({})])
    stream = io.StringIO()
    result = runner._measured(
        BenchPlan(quiet_below=20.0), ProgressLine(stream), lambda: next(samples), str
    )
    assert result.cpu_percent == {"others": 5.0}
    assert "others used 80% meanwhile: measuring again" in stream.getvalue()


@pytest.mark.usefixtures("no_waiting")
def test_retries_are_bounded_and_keep_the_last_measurement() -> None:
    calls = []

    def measure() -> Sample:
        calls.append(1)
        return Sample({"others": 90.0 + len(calls)})

    result = runner._measured(
        BenchPlan(quiet_below=20.0), ProgressLine(io.StringIO()), measure, str
    )
    assert len(calls) == 1 + runner.NOISY_RETRIES
    assert result.cpu_percent == {"others": 90.0 + len(calls)}


def test_without_quiet_below_one_measurement_whatever_the_noise() -> None:
    calls = []

    def measure() -> Sample:
        calls.append(1)
        return Sample({"others": 150.0})

    runner._measured(BenchPlan(), ProgressLine(io.StringIO()), measure, str)
    assert len(calls) == 1


def test_configurations_rotate_and_each_broker_gets_its_relay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[str] = []
    relays: list[tuple[str, str, int]] = []

    @contextlib.contextmanager
    def server(plan: BenchPlan, mode: str, data_dir: Path) -> Iterator[BenchServer]:
        started.append(mode)
        yield BenchServer(data_dir, 1, mode)

    def relay(spec: object, bench_server: BenchServer, run: int, broker: str) -> Sample:
        relays.append((broker, bench_server.mode, run))
        return Sample({})

    monkeypatch.setattr(runner, "_server", server)
    monkeypatch.setattr(runner, "_load", lambda *_: Sample({}))
    monkeypatch.setattr(runner, "_relay", relay)
    monkeypatch.setattr(runner, "_load_line", str)
    monkeypatch.setattr(runner, "_relay_line", str)
    plan = BenchPlan(modes=("separate", "inline", "mosquitto"), runs=2, phases=("full", "relay"))
    results = runner.run_bench(plan, ProgressLine(io.StringIO()))
    assert started == ["separate", "inline", "mosquitto", "inline", "mosquitto", "separate"]
    assert len(results.loads) == 6
    # The relay of each broker runs on the data dir of that broker's first server.
    assert relays == [
        ("embedded", "separate", 1),
        ("mosquitto", "mosquitto", 1),
        ("embedded", "inline", 2),
        ("mosquitto", "mosquitto", 2),
    ]
