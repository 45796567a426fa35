"""`python -m clients.bench.features --quick` reports every scenario and loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

KEYS = {
    "fanout_last_member_ms_p50",
    "fanout_last_member_ms_p99",
    "fanout_last_member_ms_max",
    "group_msgs_per_s",
    "group_deliveries_per_s",
    "group_losses",
    "receipts_per_s",
    "receipt_barriers_missing",
    "receipt_errors",
    "receipt_cost_us_10",
    "receipt_cost_us_10000",
    "presence_flips_per_s",
    "presence_flips_seen",
    "presence_flips_expected",
    "restart_users",
    "restart_online_seen",
    "restart_all_online_s",
}


def features(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m clients.bench.features --quick ARGS`, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "clients.bench.features", "--quick", *args],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_the_quick_feature_bench_reports_every_key_and_loses_nothing(tmp_path: Path) -> None:
    report_path = tmp_path / "features.json"
    # The connections scenario has a test of its own, below.
    result = features("--scenarios", "group,receipts,flips,restart", "--json", str(report_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())["embedded"]
    assert report.keys() >= KEYS
    assert "| metric | embedded |" in result.stdout
    assert report["fanout_probes"] > 0
    assert report["group_losses"] == 0
    assert report["group_sustained_acked"] > 0
    assert report["receipt_barriers_missing"] == 0
    assert report["receipt_errors"] == 0
    assert report["presence_flips_seen"] == report["presence_flips_expected"]
    assert report["restart_online_seen"] == report["restart_users"]


def test_presence_and_many_connections_on_mosquitto(tmp_path: Path) -> None:
    report_path = tmp_path / "features.json"
    result = features(
        "--brokers", "mosquitto", "--scenarios", "flips,connections", "--json", str(report_path)
    )
    assert result.returncode == 0, result.stderr
    assert "| metric | mosquitto |" in result.stdout
    report = json.loads(report_path.read_text())["mosquitto"]
    # On Mosquitto, presence is what the clients announce: every flip must still be seen.
    assert report["presence_flips_seen"] == report["presence_flips_expected"] > 0
    assert report["connections_connected"] == report["connections_users"] > 0
    assert report["connections_dropped"] == 0
    assert report["connections_probes_delivered"] == report["connections_probes"] > 0
    assert report["connections_rss_broker_mib_connected"] > 0  # the mosquitto child was found
    assert report["connections_rss_server_mib_held_max"] > 0
