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
