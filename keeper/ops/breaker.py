"""Circuit breaker: stop acting after N consecutive failures, wait a cool-down, then allow one trial.

    CLOSED --N consecutive failures--> OPEN --cool-down elapsed--> HALF_OPEN --trial succeeds--> CLOSED
                                        ^                              |
                                        +--------trial fails-----------+

`BreakerState` is an immutable value with pure transitions taking `now` (seconds, any monotonic clock), so it is
tested without sleeping; `CircuitBreaker` holds the current value and a clock for the keeper loop.
What counts as a failure is the caller's choice (a reverted transaction, a rejected simulation, an RPC outage);
a benign no-op ("another keeper acted first") is not one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum


class BreakerMode(str, Enum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def code(self) -> int:
        """Gauge value: 0 closed, 1 half-open, 2 open."""
        return {BreakerMode.CLOSED: 0, BreakerMode.HALF_OPEN: 1, BreakerMode.OPEN: 2}[self]


@dataclass(frozen=True)
class BreakerState:
    threshold: int  # consecutive failures that open the breaker
    cooldown: float  # seconds from opening to half-open
    mode: BreakerMode = BreakerMode.CLOSED
    failures: int = 0  # consecutive failures so far
    opened_at: float | None = None
    trial_taken: bool = False  # half-open: the single trial has been handed out

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"breaker threshold: must be >= 1, got {self.threshold}")
        if self.cooldown <= 0:
            raise ValueError(f"breaker cooldown: must be > 0 s, got {self.cooldown}")

    def at(self, now: float) -> BreakerState:
        """The state as of `now`: an OPEN breaker whose cool-down has elapsed reads as HALF_OPEN."""
        if self.mode == BreakerMode.OPEN and self.opened_at is not None and now - self.opened_at >= self.cooldown:
            return replace(self, mode=BreakerMode.HALF_OPEN, trial_taken=False)
        return self

    def acquire(self, now: float) -> tuple[bool, BreakerState]:
        """May the caller act now? In HALF_OPEN exactly one caller gets True until the trial is reported."""
        state = self.at(now)
        if state.mode == BreakerMode.CLOSED:
            return True, state
        if state.mode == BreakerMode.HALF_OPEN and not state.trial_taken:
            return True, replace(state, trial_taken=True)
        return False, state

    def on_success(self, now: float) -> BreakerState:
        return replace(self.at(now), mode=BreakerMode.CLOSED, failures=0, opened_at=None, trial_taken=False)

    def on_failure(self, now: float) -> BreakerState:
        state = self.at(now)
        failures = state.failures + 1
        if state.mode == BreakerMode.HALF_OPEN or (state.mode == BreakerMode.CLOSED and failures >= self.threshold):
            return replace(state, mode=BreakerMode.OPEN, failures=failures, opened_at=now, trial_taken=False)
        return replace(state, failures=failures)

    def remaining(self, now: float) -> float:
        """Seconds until an OPEN breaker goes half-open (0 otherwise)."""
        state = self.at(now)
        if state.mode != BreakerMode.OPEN or state.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (now - state.opened_at))


class CircuitBreaker:
    """Mutable holder for the keeper loop; `on_change(old, new)` is called when the mode changes."""

    def __init__(
        self,
        threshold: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerMode, BreakerMode], None] | None = None,
    ) -> None:
        self._state = BreakerState(threshold, cooldown_seconds)
        self._clock = clock
        self._on_change = on_change

    @property
    def mode(self) -> BreakerMode:
        """Read-only (safe from the metrics thread); the OPEN -> HALF_OPEN change is reported at the next call."""
        return self._state.at(self._clock()).mode

    def allow(self) -> bool:
        allowed, state = self._state.acquire(self._clock())
        self._set(state)
        return allowed

    def record_success(self) -> None:
        self._set(self._state.on_success(self._clock()))

    def record_failure(self) -> None:
        self._set(self._state.on_failure(self._clock()))

    def remaining(self) -> float:
        return self._state.remaining(self._clock())

    def _set(self, state: BreakerState) -> BreakerMode:
        old = self._state.mode
        self._state = state
        if state.mode != old and self._on_change is not None:
            self._on_change(old, state.mode)
        return state.mode
