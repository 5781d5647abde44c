"""Politeness toward VAN, per API key: a steady rate, a bound on requests in flight, and a
pause that every sender of the key honours when VAN says 429 (``Retry-After``) or fails.

Own code rather than a rate-limit library: the pause must be shared by every request of the
key and set from VAN's answer, and the backoff must grow with consecutive failures and reset
on success; that is these few lines, not a limiter's options.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable


class KeyPacer:
    """Requests of one VAN API key: at most ``rate`` per second, ``concurrency`` at once."""

    def __init__(
        self,
        rate: float,
        concurrency: int,
        *,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or concurrency < 1:
            raise ValueError("rate must be > 0 and concurrency >= 1")
        self.rate, self.concurrency, self.interval = rate, concurrency, 1.0 / rate
        self.slots = asyncio.Semaphore(concurrency)
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.clock = clock
        self._next = 0.0  # earliest start of the next request
        self._paused_until = 0.0
        self.failures = 0  # consecutive 429 / 5xx / timeouts

    async def turn(self) -> None:
        """Wait for this request's turn (rate and pause), then hold a concurrency slot."""
        await self.slots.acquire()
        try:
            while True:
                now = self.clock()
                start = max(now, self._next, self._paused_until)
                if start <= now:
                    self._next = now + self.interval
                    return
                await asyncio.sleep(start - now)
        except BaseException:
            self.slots.release()
            raise

    def done(self) -> None:
        self.slots.release()

    def succeeded(self) -> None:
        self.failures = 0

    def failed(self, retry_after: float | None = None) -> float:
        """VAN was unhappy (429, 5xx, timeout): pause the key; returns the pause in seconds."""
        self.failures += 1
        backoff = min(self.backoff_max_s, self.backoff_base_s * 2 ** (self.failures - 1))
        pause = max(retry_after or 0.0, backoff * (0.5 + random.random() / 2))
        self._paused_until = max(self._paused_until, self.clock() + pause)
        return pause

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock())
