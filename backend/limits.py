"""Per-user rate limits: which requests are limited, by how much, and the refusal.

One token bucket (`backend.core.ratelimit`) per user and kind of request, sized by the
settings. The service and the HTTP layer check here before doing any work, so a refused
request stores nothing; the edges translate `RateLimited` into the contract's error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from backend.core.ratelimit import RateLimiter
from backend.errors import RateLimited
from backend.settings import Settings

MonotonicClock = Callable[[], float]


class Limited(StrEnum):
    """The kinds of request with a bucket of their own."""

    SEND = "send"
    RECEIPT = "receipt"
    SYNC = "sync"
    HTTP = "http"
    UPLOAD = "upload"
    TYPING = "typing"  # keyed by (user, conversation, paused), not by user alone


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_s` requests a second on average, `burst` at once after a quiet spell."""

    per_s: float
    burst: int


def rates_from(settings: Settings) -> dict[Limited, Rate]:
    """The configured rates; without `rate_limits`, only typing's."""
    rates = {Limited.TYPING: Rate(settings.typing_per_s, settings.typing_burst)}
    if settings.rate_limits:
        rates |= {
            Limited.SEND: Rate(settings.send_per_s, settings.send_burst),
            Limited.RECEIPT: Rate(settings.receipt_per_s, settings.receipt_burst),
            Limited.SYNC: Rate(settings.sync_per_s, settings.sync_burst),
            Limited.HTTP: Rate(settings.http_per_s, settings.http_burst),
            Limited.UPLOAD: Rate(settings.upload_per_s, settings.upload_burst),
        }
    return rates


class UserLimits:
    """Buckets for every limited kind of request; a kind without a rate is unlimited."""

    def __init__(
        self, rates: Mapping[Limited, Rate], clock: MonotonicClock = time.monotonic
    ) -> None:
        self._limiters = {
            kind: RateLimiter(rate=rate.per_s, burst=rate.burst) for kind, rate in rates.items()
        }
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> UserLimits:
        return cls(rates_from(settings))

    def allow(self, kind: Limited, key: Hashable) -> bool:
        """Take a token from `key`'s bucket of `kind`, if there is one."""
        limiter = self._limiters.get(kind)
        return limiter is None or limiter.allow(key, self._clock())

    def check(self, kind: Limited, user: str) -> None:
        """Take a token from `user`'s bucket of `kind`, or raise `RateLimited`."""
        limiter = self._limiters.get(kind)
        if limiter is None:
            return
        wait_s = limiter.take(user, self._clock())
        if wait_s > 0:
            raise RateLimited(
                f"too many {kind.value} requests; retry in {wait_s:.2f} s",
                retry_after_s=wait_s,
            )

    def tracked(self) -> dict[Limited, int]:
        """How many keys each kind remembers (bounded: idle keys are forgotten)."""
        return {kind: len(limiter) for kind, limiter in self._limiters.items()}


def retry_after_header(wait_s: float) -> str:
    """HTTP's Retry-After: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_s)))
