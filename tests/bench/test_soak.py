"""The soak's bookkeeping and verdicts (clients.bench.soak.tracking / report)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from clients.bench.soak.report import (
    Sample,
    markdown_table,
    memory_verdict,
    read_csv,
    slope_per_hour,
    table_rows,
    write_csv,
)
from clients.bench.soak.tracking import Deliveries, SeqTracker, Window


def test_the_prefix_grows_only_without_holes() -> None:
    tracker = SeqTracker()
    assert tracker.add(2) and tracker.prefix == 0
    assert tracker.add(1) and tracker.prefix == 2
    assert not tracker.add(2)  # a redelivery
    assert tracker.add(4) and tracker.prefix == 2
    assert tracker.add(3) and (tracker.prefix, tracker.ahead) == (4, set())


def test_a_member_short_of_the_last_seq_is_a_loss() -> None:
    deliveries = Deliveries()
    deliveries.conversation("dm:ann:ben", ("ann", "ben"))
    deliveries.acked("ann", "dm:ann:ben", 1)
    deliveries.acked("ann", "dm:ann:ben", 2)
    deliveries.seen("ben", "dm:ann:ben", 2)
    short = deliveries.shortfall()
    assert (short.pairs, short.seqs, short.users) == (1, 2, frozenset({"ben"}))
    deliveries.seen("ben", "dm:ann:ben", 1)  # arrives late, by sync say
    assert deliveries.complete


def test_a_group_starts_at_its_created_event() -> None:
    deliveries = Deliveries()
    deliveries.conversation("g:x", ("ann", "ben", "cy"), first_seq=1)
    deliveries.seen("ann", "g:x", 1)
    deliveries.seen("ben", "g:x", 1)
    assert deliveries.shortfall().users == frozenset({"cy"})


def test_a_window_summarises_and_folds_into_the_totals() -> None:
    window = Window(sent=3, live=2, latencies_ms=[5.0, 1.0, 9.0])
    summary = window.summary()
    assert (summary["sent"], summary["p50_ms"], summary["max_ms"]) == (3, 5.0, 9.0)
    totals = Window(sent=1, latencies_ms=[2.0])
    window.add_to(totals)
    assert (totals.sent, totals.live, sorted(totals.latencies_ms)) == (4, 2, [1.0, 2.0, 5.0, 9.0])
    assert math.isnan(Window().summary()["p99_ms"])


def sample(t_s: float, server_mib: float, broker_mib: float = 40.0) -> Sample:
    zeros = {f.name: 0 for f in dataclasses.fields(Sample)}
    return Sample(
        **zeros | {"t_s": t_s, "server_rss_mib": server_mib, "broker_rss_mib": broker_mib}
    )


def test_memory_is_flat_when_it_only_wobbles_after_warm_up() -> None:
    samples = [sample(0, 40), sample(10, 70)]  # warm-up: ignored
    samples += [sample(20 + 10 * i, 80 + (i % 3)) for i in range(100)]
    verdict = memory_verdict(samples, "server", warmup_s=20)
    assert verdict.flat
    assert verdict.start_mib == pytest.approx(81)


def test_memory_that_keeps_climbing_is_not_flat() -> None:
    samples = [sample(10 * i, 80 + 0.5 * i) for i in range(100)]  # +50 MiB in 1000 s
    verdict = memory_verdict(samples, "server", warmup_s=0)
    assert not verdict.flat
    assert verdict.slope_mib_per_h == pytest.approx(0.05 * 3600)
    assert "GROWING" in verdict.line()


def test_slope_of_too_few_points_is_zero() -> None:
    assert slope_per_hour([1.0], [5.0]) == 0.0
    assert slope_per_hour([1.0, 1.0], [5.0, 6.0]) == 0.0


def test_the_table_takes_a_row_every_so_often_and_the_last() -> None:
    samples = [sample(10 * i + 0.1 * (i % 2), 80) for i in range(1, 21)]  # 10 .. 200 s
    assert [round(s.t_s) for s in table_rows(samples, every=6)] == [60, 120, 180, 200]
    table = markdown_table(samples, every_s=60, sample_s=10)
    assert table.count("\n| ") == 4  # header rows aside
    assert table.splitlines()[2].startswith("| 1.0 | 80.0 | 40.0 |")


def test_csv_has_a_header_and_a_row_per_sample(tmp_path: Path) -> None:
    path = tmp_path / "soak.csv"
    write_csv([sample(10, 80), sample(20, 81)], path)
    rows = path.read_text().splitlines()
    assert rows[0].startswith("t_s,server_rss_mib,broker_rss_mib")
    assert len(rows) == 3
    assert read_csv(path) == [sample(10, 80), sample(20, 81)]
