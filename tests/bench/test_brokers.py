"""Broker configurations side by side: `--brokers`, the issues' targets, the table."""

from __future__ import annotations

import math

import pytest

from clients.bench.configs import configurations, parse_brokers, rotated
from clients.bench.procfs import is_broker_command
from clients.bench.report import summarize
from clients.bench.tables import render, side_by_side
from clients.bench.targets import ISSUE_2, ISSUE_8, latency_verdict, throughput_verdict
from tests.bench.test_report import load, relay


def test_brokers_parse_in_order_without_repeats() -> None:
    assert parse_brokers("embedded,mosquitto") == ("embedded", "mosquitto")
    assert parse_brokers(" mosquitto , embedded,mosquitto") == ("mosquitto", "embedded")
    for bad in ("", "emqx", "embedded,,amqtt"):
        with pytest.raises(ValueError, match="--brokers takes"):
            parse_brokers(bad)


def test_placement_applies_to_the_embedded_broker_only() -> None:
    both = ("embedded", "mosquitto")
    assert configurations(both, compare_process=True, broker_process="separate") == (
        "separate",
        "inline",
        "mosquitto",
    )
    assert configurations(both, compare_process=False, broker_process="inline") == (
        "inline",
        "mosquitto",
    )
    assert configurations(("mosquitto",), compare_process=True, broker_process="separate") == (
        "mosquitto",
    )


def test_each_configuration_goes_first_once_over_as_many_runs() -> None:
    names = ("separate", "inline", "mosquitto")
    firsts = [rotated(names, run)[0] for run in (1, 2, 3)]
    assert firsts == ["separate", "inline", "mosquitto"]
    assert sorted(rotated(names, 5)) == sorted(names)


def test_the_broker_child_is_known_by_its_command_line() -> None:
    assert is_broker_command(["/usr/sbin/mosquitto", "-c", "/d/mosquitto.conf"])
    assert is_broker_command(["/v/bin/python", "-m", "broker", "--data-dir", "d"])
    assert not is_broker_command(["cc", "-O2", "-shared", "mqchat_auth.c"])
    assert not is_broker_command(["/v/bin/python", "-m", "backend", "serve"])
    assert not is_broker_command([])


def test_latency_targets_hold_at_their_own_rate() -> None:
    assert latency_verdict(ISSUE_8, 49.9, 1000.0) == "met"
    assert latency_verdict(ISSUE_8, 50.0, 1000.0) == "MISSED"
    assert latency_verdict(ISSUE_2, 40.0, 1000.0).startswith("met (at 1000 msg/s")
    assert latency_verdict(ISSUE_2, 140.0, 1000.0).startswith("not judged")
    assert latency_verdict(ISSUE_8, 5.0, 200.0).startswith("not judged")
    assert latency_verdict(ISSUE_8, math.nan, 1000.0).startswith("not judged")
    assert throughput_verdict(ISSUE_8, 3000.0) == "met"
    assert throughput_verdict(ISSUE_8, 2999.0) == "MISSED"


def test_mosquitto_is_held_to_issue_8_and_compared_with_the_embedded_broker() -> None:
    rows = [
        load("separate", "full", 1, 2000, 900.0),
        load("mosquitto", "full", 1, 3100, 600.0),
        load("mosquitto", "fixed", 1, 1000, 30.0),
    ]
    lines = summarize(rows, [relay(1, 20000), relay(1, 60000, "mosquitto")]).conclusions
    assert (
        "mosquitto: full speed 3100 msg/s delivered end to end (issue 8 target >= 3000): met"
        in (lines)
    )
    assert "separate: full speed 2000 msg/s delivered end to end (issue 2 target >= 400): met" in (
        lines
    )
    assert "mosquitto: end-to-end / raw relay = 3100 / 60000 = 0.05" in lines
    assert "separate: end-to-end / raw relay = 2000 / 20000 = 0.10" in lines
    assert any(line.startswith("mosquitto vs separate: full speed 3100 vs 2000") for line in lines)
    fixed = next(line for line in lines if line.startswith("mosquitto: push p99"))
    assert "(issue 8 target < 50 ms at 1000 msg/s): not judged" in fixed  # offered 200/s


def test_one_column_per_configuration_for_every_phase() -> None:
    summary = summarize(
        [
            load("separate", "fixed", 1, 200, 10.0),
            load("separate", "full", 1, 2000, 900.0),
            load("mosquitto", "fixed", 1, 200, 8.0),
            load("mosquitto", "full", 1, 3100, 600.0),
            load("mosquitto", "full", 2, 2900, 600.0),
        ],
        [relay(1, 20000), relay(1, 60000, "mosquitto")],
    )
    table = side_by_side(summary)
    assert table[0] == "| phase | measure | embedded (separate) | mosquitto |"
    assert all(line.count("|") == 5 for line in table)
    assert table[2] == "| fixed rate 200 msg/s, 100 users | delivered/s | 200 | 200 |"
    full = next(line for line in table if line.startswith("| full speed"))
    assert (
        full == "| full speed, window 10, 100 users | delivered/s | 2,000 | 3,000 (3,100, 2,900) |"
    )
    assert any(line.endswith("| 20,000 | 60,000 |") for line in table)
    assert any("lost / duplicates / seq gaps | 0 / 1 / 0 | 0 / 1 / 0 |" in line for line in table)
    assert render(summary).startswith(table[0])
