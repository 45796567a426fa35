"""`mqchat bench` at tiny scale against a real server it starts itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from backend.cli import app


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    """`mqchat bench ARGS` in a child process, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "backend", "bench", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_a_tiny_bench_reports_every_phase_and_loses_nothing(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    result = run_bench(
        "--users", "5", "--rate", "20", "--duration", "2", "--relay-duration", "1",
        "--drain", "5", "--no-progress", "--json", str(report_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "exception" not in result.stderr.lower(), result.stderr  # e.g. never retrieved
    assert "| separate | fixed | 5 | 20 |" in result.stdout
    assert result.stdout.rstrip().endswith("result: ok")

    report = json.loads(report_path.read_text())
    assert report["machine"]["cpus"] >= 1
    assert report["summary"]["ok"] is True
    phases = {(row["mode"], row["phase"]) for row in report["summary"]["loads"]}
    assert phases == {("separate", "fixed"), ("separate", "full")}
    for run in report["runs"]["loads"]:
        verdict = run["verdict"]
        assert run["ok"] is True
        assert verdict["sent"] > 0
        assert verdict["acked"] == verdict["delivered"] == verdict["sent"]
        assert verdict["lost"] == verdict["seq_gaps"] == verdict["unacked"] == 0
        assert run["push"]["p99"] is not None and run["push"]["p99"] > 0
        assert set(run["cpu_percent"]) >= {"server", "broker", "bench"}
    fixed = next(r for r in report["runs"]["loads"] if r["phase"] == "fixed")
    assert fixed["verdict"]["sent"] == 40  # 20/s for 2 s
    (relay,) = report["runs"]["relays"]
    assert relay["received"] == relay["published"] > 0
    assert relay["relayed_per_s"] > 0


def test_server_needs_its_data_dir() -> None:
    result = CliRunner().invoke(app, ["bench", "--server", "127.0.0.1:1883"])
    assert result.exit_code == 1
    assert "--server and --data-dir go together" in result.output


def test_only_loopback_servers(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bench", "--server", "10.0.0.1:1883", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "--server must be 127.0.0.1:<mqtt port>" in result.output


def test_the_bare_client_loses_nothing_either(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    result = run_bench(
        "--client", "raw", "--users", "5", "--rate", "20", "--duration", "1.5",
        "--phase", "fixed", "--phase", "full", "--drain", "5", "--no-progress",
        "--json", str(report_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| separate | full (raw) | 5 |" in result.stdout
    runs = json.loads(report_path.read_text())["runs"]["loads"]
    assert [run["client"] for run in runs] == ["raw", "raw"]
    assert all(run["ok"] and run["verdict"]["delivered"] == run["verdict"]["sent"] for run in runs)


def test_mosquitto_loses_nothing_and_its_cpu_is_found(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    result = run_bench(
        "--brokers", "mosquitto", "--users", "4", "--duration", "1", "--phase", "full",
        "--phase", "relay", "--relay-duration", "0.5", "--drain", "5", "--no-progress",
        "--json", str(report_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("| phase | measure | mosquitto |")
    assert "mosquitto: full speed" in result.stdout and "(issue 8 target >= 3000)" in result.stdout
    report = json.loads(report_path.read_text())
    (run,) = report["runs"]["loads"]
    assert run["mode"] == "mosquitto" and run["ok"]
    assert run["verdict"]["delivered"] == run["verdict"]["sent"] > 0
    # Thousands of messages relayed: the `mosquitto` child was found and measured.
    assert run["cpu_percent"]["broker"] > 0, run["cpu_percent"]
    (relay,) = report["runs"]["relays"]
    assert relay["broker"] == "mosquitto"
    assert relay["received"] == relay["published"] > 0


def test_unknown_brokers_are_refused() -> None:
    result = CliRunner().invoke(app, ["bench", "--brokers", "embedded,emqx"])
    assert result.exit_code == 1
    assert "--brokers takes a comma-separated list of embedded, mosquitto" in result.output
