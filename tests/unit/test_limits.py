import pytest

from backend.errors import RateLimited
from backend.limits import Limited, Rate, UserLimits, rates_from, retry_after_header
from backend.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_over_the_limit_raises_rate_limited_with_the_wait() -> None:
    clock = FakeClock()
    limits = UserLimits({Limited.SEND: Rate(per_s=2, burst=3)}, clock)
    for _ in range(3):
        limits.check(Limited.SEND, "ann")
    with pytest.raises(RateLimited) as refused:
        limits.check(Limited.SEND, "ann")
    assert refused.value.code == "rate_limited"
    assert refused.value.http_status == 429
    assert refused.value.retry_after_s == pytest.approx(0.5)
    clock.now += 0.5
    limits.check(Limited.SEND, "ann")  # a retry after the wait succeeds


def test_users_and_kinds_have_buckets_of_their_own() -> None:
    limits = UserLimits(
        {Limited.SEND: Rate(per_s=1, burst=1), Limited.RECEIPT: Rate(per_s=1, burst=1)},
        FakeClock(),
    )
    limits.check(Limited.SEND, "ann")
    with pytest.raises(RateLimited):
        limits.check(Limited.SEND, "ann")
    limits.check(Limited.SEND, "ben")
    limits.check(Limited.RECEIPT, "ann")


def test_a_kind_without_a_rate_is_unlimited() -> None:
    limits = UserLimits({Limited.SEND: Rate(per_s=1, burst=1)}, FakeClock())
    for _ in range(1000):
        limits.check(Limited.HTTP, "ann")
        assert limits.allow(Limited.TYPING, ("ann", "c", False))


def test_idle_users_are_forgotten() -> None:
    clock = FakeClock()
    limits = UserLimits({Limited.HTTP: Rate(per_s=50, burst=100)}, clock)
    for user in range(10_000):
        limits.check(Limited.HTTP, f"u{user}")
    assert limits.tracked()[Limited.HTTP] == 10_000
    clock.now += 2.0  # 100 tokens at 50/s: every bucket is full again
    limits.check(Limited.HTTP, "late")
    assert limits.tracked()[Limited.HTTP] == 1


def test_rates_come_from_the_settings() -> None:
    settings = Settings(send_per_s=3, send_burst=7, typing_per_s=2, typing_burst=4)
    rates = rates_from(settings)
    assert rates[Limited.SEND] == Rate(3, 7)
    assert rates[Limited.TYPING] == Rate(2, 4)
    assert set(rates) == set(Limited)


def test_rate_limits_off_keeps_only_typing() -> None:
    assert set(rates_from(Settings(rate_limits=False))) == {Limited.TYPING}


def test_the_defaults_allow_a_full_sync_batch_of_receipts() -> None:
    # A client that synced a full batch (1,000 messages in as many conversations) may
    # acknowledge every conversation at once.
    limits = UserLimits(rates_from(Settings()), FakeClock())
    for _ in range(1000):
        limits.check(Limited.RECEIPT, "ann")


@pytest.mark.parametrize(("wait_s", "header"), [(0.001, "1"), (1.0, "1"), (1.2, "2"), (30.0, "30")])
def test_retry_after_is_whole_seconds_rounded_up(wait_s: float, header: str) -> None:
    assert retry_after_header(wait_s) == header
