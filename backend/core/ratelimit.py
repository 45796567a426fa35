"""Token buckets keyed by anything: `rate` tokens a second, up to `burst` saved up.

Pure: the caller passes `now` (seconds, monotonic). Idle buckets are forgotten once
they would be full again, so memory follows the active keys only.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    rate: float
    burst: float
    _buckets: dict[Hashable, tuple[float, float]] = field(default_factory=dict)
    _last_sweep: float = 0.0

    def allow(self, key: Hashable, now: float) -> bool:
        """Take one token for `key` if there is one."""
        return self.take(key, now) == 0.0

    def take(self, key: Hashable, now: float) -> float:
        """Take one token for `key`: 0.0 if there was one, else the seconds until there
        is one (and nothing is taken: a refused request costs no future token)."""
        self._sweep(now)
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def _sweep(self, now: float) -> None:
        refill_s = self.burst / self.rate
        if now - self._last_sweep < refill_s:
            return
        self._last_sweep = now
        self._buckets = {
            key: (tokens, last)
            for key, (tokens, last) in self._buckets.items()
            if now - last < refill_s
        }

    def __len__(self) -> int:
        return len(self._buckets)
