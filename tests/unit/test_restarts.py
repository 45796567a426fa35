"""The restart policy of a supervised child (backend.core.restarts)."""

from __future__ import annotations

import pytest

from backend.core.restarts import RestartPolicy, recent_deaths, restart_delay

POLICY = RestartPolicy(delays_s=(0.0, 0.5, 2.0), max_restarts=4, window_s=60.0)


def test_the_first_death_restarts_at_once_and_later_ones_back_off() -> None:
    deaths: list[float] = []
    delays = []
    for now in (100.0, 101.0, 102.0, 103.0):
        deaths.append(now)
        delays.append(restart_delay(deaths, now, POLICY))
    assert delays == [0.0, 0.5, 2.0, 2.0]


def test_too_many_deaths_within_the_window_give_up() -> None:
    deaths = [100.0, 101.0, 102.0, 103.0, 104.0]
    assert restart_delay(deaths, 104.0, POLICY) is None


def test_deaths_older_than_the_window_are_forgotten() -> None:
    deaths = [100.0, 101.0, 102.0, 103.0, 200.0]
    assert recent_deaths(deaths, 200.0, POLICY) == [200.0]
    assert restart_delay(deaths, 200.0, POLICY) == 0.0


def test_a_slow_steady_crash_loop_is_restarted_forever() -> None:
    # One death every 20 s: never more than three in a minute.
    deaths = [20.0 * n for n in range(100)]
    assert restart_delay(deaths, deaths[-1], POLICY) == 2.0


@pytest.mark.parametrize("arguments", [{"delays_s": ()}, {"max_restarts": 0}, {"window_s": 0.0}])
def test_a_policy_needs_delays_a_bound_and_a_window(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="a restart policy needs"):
        RestartPolicy(**arguments)  # type: ignore[arg-type]
