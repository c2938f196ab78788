"""The byte-rate token bucket and the failed-login throttle, driven by explicit clock values."""

from __future__ import annotations

import pytest

from xmppd.transport.limits import AuthThrottle, TokenBucket


def test_bucket_allows_a_burst_then_asks_to_wait() -> None:
    bucket = TokenBucket(rate=1000, burst=4000, now=0.0)
    assert bucket.consume(4000, 0.0) == 0.0
    # 1000 more bytes at once: one second of the average rate is owed.
    assert bucket.consume(1000, 0.0) == pytest.approx(1.0)
    # After that second the debt is paid, and half a second later there is room for 500 bytes.
    assert bucket.consume(500, 1.5) == 0.0


def test_bucket_never_saves_more_than_the_burst() -> None:
    bucket = TokenBucket(rate=1000, burst=2000, now=0.0)
    # A long silence refills to the burst, not beyond.
    assert bucket.consume(2000, 3600.0) == 0.0
    assert bucket.consume(1000, 3600.0) == pytest.approx(1.0)


def test_throttle_delay_grows_per_account_and_per_address() -> None:
    throttle = AuthThrottle(base=1.0, ceiling=8.0)
    account = ("address:192.0.2.1", "alice@localhost")
    assert throttle.delay(account, 0.0) == 0.0
    expected = [1.0, 2.0, 4.0, 8.0, 8.0]
    for n, delay in enumerate(expected):
        throttle.failed(account, float(n))
        assert throttle.delay(account, float(n)) == delay
    # The same account from another address is slowed down too (per account) ...
    assert throttle.delay(("address:198.51.100.7", "alice@localhost"), 5.0) == 8.0
    # ... and so is another account from the same address (per address).
    assert throttle.delay(("address:192.0.2.1", "bob@localhost"), 5.0) == 8.0
    # Neither the account nor the address: no delay.
    assert throttle.delay(("address:198.51.100.7", "bob@localhost"), 5.0) == 0.0


def test_throttle_success_clears_the_account_and_failures_are_forgotten() -> None:
    throttle = AuthThrottle(base=0.5, ceiling=60.0, forget_after=100.0)
    keys = ("address:192.0.2.1", "alice@localhost")
    throttle.failed(keys, 0.0)
    throttle.failed(keys, 1.0)
    throttle.succeeded("alice@localhost")
    assert throttle.delay(("address:198.51.100.7", "alice@localhost"), 2.0) == 0.0
    assert throttle.delay(("address:192.0.2.1",), 2.0) == 1.0
    assert throttle.delay(("address:192.0.2.1",), 102.0) == 0.0


def test_throttle_memory_is_bounded() -> None:
    throttle = AuthThrottle(base=1.0, ceiling=60.0, forget_after=1e9, max_entries=100)
    for n in range(1000):
        throttle.failed((f"address:10.0.{n // 256}.{n % 256}",), float(n))
    assert len(throttle._records) <= 100
    # The newest failures are the ones kept.
    assert throttle.delay(("address:10.0.3.231",), 1000.0) == 1.0
