"""Circuit breaker: trips after N consecutive failures, cools down, allows one half-open trial, recovers."""

from __future__ import annotations

import pytest

from keeper.ops.breaker import BreakerMode, BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_trips_after_threshold_consecutive_failures_only() -> None:
    s = BreakerState(threshold=3, cooldown=60)
    s = s.on_failure(0).on_failure(1)
    s = s.on_success(2)  # a success resets the count
    s = s.on_failure(3).on_failure(4)
    assert s.mode == BreakerMode.CLOSED and s.acquire(4)[0]
    s = s.on_failure(5)
    assert s.mode == BreakerMode.OPEN and not s.acquire(6)[0] and s.remaining(6) == 59


def test_half_open_allows_exactly_one_trial_then_closes_or_reopens() -> None:
    s = BreakerState(threshold=1, cooldown=10).on_failure(0)
    assert s.at(9.9).mode == BreakerMode.OPEN and s.at(10).mode == BreakerMode.HALF_OPEN
    allowed, s = s.acquire(10)
    assert allowed and s.mode == BreakerMode.HALF_OPEN
    assert not s.acquire(11)[0]  # the trial is out: nobody else acts
    reopened = s.on_failure(12)
    assert reopened.mode == BreakerMode.OPEN and reopened.remaining(12) == 10  # a fresh cool-down
    closed = s.on_success(12)
    assert closed.mode == BreakerMode.CLOSED and closed.failures == 0 and closed.acquire(12)[0]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        BreakerState(threshold=0, cooldown=1)
    with pytest.raises(ValueError, match="cooldown"):
        BreakerState(threshold=1, cooldown=0)


def test_circuit_breaker_with_a_clock_reports_mode_changes() -> None:
    clock = Clock()
    changes: list[tuple[BreakerMode, BreakerMode]] = []
    breaker = CircuitBreaker(2, 30, clock=clock, on_change=lambda old, new: changes.append((old, new)))
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert not breaker.allow() and (breaker.mode, breaker.remaining()) == (BreakerMode.OPEN, 30)
    clock.now += 30
    assert (breaker.mode, breaker.remaining()) == (BreakerMode.HALF_OPEN, 0)
    assert breaker.allow() and not breaker.allow()
    breaker.record_success()
    assert (breaker.mode, breaker.allow()) == (BreakerMode.CLOSED, True)
    assert changes == [
        (BreakerMode.CLOSED, BreakerMode.OPEN),
        (BreakerMode.OPEN, BreakerMode.HALF_OPEN),
        (BreakerMode.HALF_OPEN, BreakerMode.CLOSED),
    ]
    assert [m.code for m in BreakerMode] == [0, 1, 2]
