import pytest

from backend.core.ratelimit import RateLimiter


def test_a_burst_then_the_steady_rate() -> None:
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.allow("k", now=0) for _ in range(4)] == [True, True, True, False]
    assert not limiter.allow("k", now=0.4)
    assert limiter.allow("k", now=0.5)  # one token back after 0.5 s at 2/s
    assert not limiter.allow("k", now=0.6)


def test_keys_are_independent() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.allow(("ann", "c1"), now=0)
    assert not limiter.allow(("ann", "c1"), now=0)
    assert limiter.allow(("ann", "c2"), now=0)
    assert limiter.allow(("ben", "c1"), now=0)


def test_idle_keys_are_forgotten() -> None:
    limiter = RateLimiter(rate=1, burst=2)
    for user in range(100):
        limiter.allow(user, now=0)
    assert len(limiter) == 100
    limiter.allow("late", now=10)
    assert len(limiter) == 1


def test_a_refusal_says_how_long_until_the_next_token() -> None:
    limiter = RateLimiter(rate=4, burst=2)
    assert limiter.take("k", now=0) == 0.0
    assert limiter.take("k", now=0) == 0.0
    assert limiter.take("k", now=0) == pytest.approx(0.25)
    assert limiter.take("k", now=0.1) == pytest.approx(0.15)
    assert limiter.take("k", now=0.25) == 0.0


def test_a_refused_request_costs_no_future_token() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.allow("k", now=0)
    for moment in (0.1, 0.5, 0.9):  # hammering while empty does not push the refill back
        assert not limiter.allow("k", now=moment)
    assert limiter.allow("k", now=1.0)


def test_memory_follows_the_active_keys_under_churn() -> None:
    limiter = RateLimiter(rate=10, burst=20)  # a key is forgotten 2 s after its last use
    for second in range(600):
        for user in range(50):
            limiter.allow((second, user), now=float(second))  # 50 new keys every second
        assert len(limiter) <= 50 * 5
