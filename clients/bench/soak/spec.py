"""What a soak run is asked to do, and what it found."""

from __future__ import annotations

from dataclasses import dataclass

from clients.bench.soak.report import Sample
from clients.bench.soak.tracking import Shortfall, Window


@dataclass(frozen=True, slots=True)
class SoakSpec:
    """The load: who, how much, for how long."""

    users: int = 500
    rate: float = 50.0  # sends a second, in total
    group_share: float = 0.5  # of the sends
    groups: int = 12
    group_size: tuple[int, int] = (20, 50)
    contacts: int = 8  # 1:1 partners of each user: a fixed set, so conversations stop growing
    receipt_interval_s: float = 3.0
    read_share: float = 0.3  # of the receipts
    churn_per_min: float = 30.0  # users going offline a minute
    offline_s: tuple[float, float] = (5.0, 30.0)
    watch: int = 3  # presence topics each group member follows
    duration_s: float = 1800.0
    sample_s: float = 10.0
    drain_s: float = 90.0
    seed: int = 1


@dataclass
class SoakResult:
    samples: list[Sample]
    totals: Window
    push_gaps: Shortfall
    """What had not arrived once everyone was back and synced: lost pushes."""
    shortfall: Shortfall
    """What was still missing after a second sync: lost from the store."""
    unanswered: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        totals = self.totals
        return not (
            self.push_gaps.pairs
            or self.shortfall.pairs
            or self.unanswered
            or totals.refused
            or totals.errors
            or self.problems
        )
