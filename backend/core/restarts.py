"""When to restart a supervised child process, and when to give up.

A child that dies is restarted after a delay that grows with the number of deaths in
the recent window; past `max_restarts` deaths within `window_s` something is wrong that
restarting will not fix (a port taken for good, a broken install), and the supervisor
gives up so that its own supervisor (systemd, a container runtime) sees the failure.
Deaths older than the window are forgotten: a child that ran for a while starts again
from the shortest delay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Backoff delays (seconds) by recent death count, and the rate beyond which to stop."""

    delays_s: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 5.0)
    max_restarts: int = 5
    window_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.delays_s or self.max_restarts < 1 or self.window_s <= 0:
            raise ValueError("a restart policy needs delays, max_restarts >= 1 and a window")


def recent_deaths(deaths: Sequence[float], now: float, policy: RestartPolicy) -> list[float]:
    """The deaths (monotonic seconds) that still count at `now`."""
    return [moment for moment in deaths if now - moment < policy.window_s]


def restart_delay(deaths: Sequence[float], now: float, policy: RestartPolicy) -> float | None:
    """How long to wait before restarting, given every death so far (the latest at `now`).

    None: too many deaths within the window, give up.
    """
    count = len(recent_deaths(deaths, now, policy))
    if count > policy.max_restarts:
        return None
    return policy.delays_s[min(max(count - 1, 0), len(policy.delays_s) - 1)]
