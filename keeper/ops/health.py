"""Liveness for /health: healthy while the last processed block is recent and the circuit breaker is closed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from keeper.ops.breaker import BreakerMode


class Health:
    def __init__(
        self,
        max_block_age_seconds: float,
        breaker_mode: Callable[[], BreakerMode] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_age = max_block_age_seconds
        self._breaker_mode = breaker_mode
        self._clock = clock
        self._lock = threading.Lock()
        self._last_block: int | None = None
        self._last_time: float | None = None

    def block_processed(self, number: int) -> None:
        with self._lock:
            self._last_block, self._last_time = number, self._clock()

    def check(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, JSON body); the body always says why when unhealthy."""
        with self._lock:
            block, seen = self._last_block, self._last_time
        mode = self._breaker_mode() if self._breaker_mode else BreakerMode.CLOSED
        if block is None or seen is None:
            return False, {"status": "unhealthy", "reason": "no block processed yet", "breaker": mode.value}
        age = round(self._clock() - seen, 3)
        body: dict[str, Any] = {"last_block": block, "age_seconds": age, "breaker": mode.value}
        if age > self._max_age:
            return False, {"status": "unhealthy", "reason": f"last block processed {age:g} s ago (max {self._max_age:g} s)", **body}
        if mode != BreakerMode.CLOSED:
            return False, {"status": "unhealthy", "reason": f"circuit breaker {mode.value}", **body}
        return True, {"status": "ok", **body}
