"""Per-connection limits as plain values: a byte-rate token bucket and the failed-login throttle.

Nothing here sleeps or reads a clock by itself; callers pass ``now`` (``time.monotonic()``) so the rules are
testable without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass


class TokenBucket:
    """Average ``rate`` units per second with bursts of up to ``burst`` units."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def consume(self, amount: float, now: float) -> float:
        """Take ``amount``; returns how many seconds the caller should wait before taking more (0: none)."""
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate) - amount
        self._stamp = now
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate


@dataclass
class _Failures:
    count: int
    last: float


class AuthThrottle:
    """A growing delay for failed logins, per account and per address.

    After ``n`` recent failures the next attempt of the same account (or from the same address) waits
    ``base * 2 ** (n - 1)`` seconds, at most ``ceiling``. A failure is forgotten ``forget_after`` seconds after the
    last one; a success clears the account's record.
    """

    def __init__(
        self, base: float, ceiling: float, forget_after: float = 900.0, max_entries: int = 100_000
    ) -> None:
        self.base = base
        self.ceiling = ceiling
        self.forget_after = forget_after
        self.max_entries = max_entries
        self._records: dict[str, _Failures] = {}

    def delay(self, keys: tuple[str, ...], now: float) -> float:
        """Seconds to wait before processing an attempt concerning all of ``keys`` (account and address)."""
        worst = 0
        for key in keys:
            record = self._records.get(key)
            if record is None:
                continue
            if now - record.last > self.forget_after:
                del self._records[key]
                continue
            worst = max(worst, record.count)
        if worst == 0 or self.base <= 0:
            return 0.0
        return float(min(self.ceiling, self.base * 2 ** (worst - 1)))

    def failed(self, keys: tuple[str, ...], now: float) -> None:
        if len(self._records) >= self.max_entries:
            self._expire(now)
        for key in keys:
            record = self._records.get(key)
            if record is None or now - record.last > self.forget_after:
                self._records[key] = _Failures(1, now)
            else:
                record.count += 1
                record.last = now

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def _expire(self, now: float) -> None:
        for key in [k for k, r in self._records.items() if now - r.last > self.forget_after]:
            del self._records[key]
        if len(self._records) >= self.max_entries:
            # Under a flood, keep the newest half.
            keep = sorted(self._records.items(), key=lambda item: item[1].last)[len(self._records) // 2 :]
            self._records = dict(keep)
