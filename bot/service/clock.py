"""Wall time with an interruptible wait, and the counters the loop keeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("bot.service")  # one logger name for the whole service


LATENCY_WINDOW = 1000  # the reply latencies kept in Stats (the newest): memory stays flat


@dataclass
class Clock:
    """Wall time and an interruptible wait, injectable for tests."""

    now: Callable[[], float] = time.time
    wake: threading.Event = field(default_factory=threading.Event)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, returning early (True) when woken by a signal or input."""
        woken = self.wake.wait(seconds) if seconds > 0 else self.wake.is_set()
        if woken:  # only a wake-up seen is used up: one that comes after the timeout (and
            self.wake.clear()  # before this line) wakes the next wait instead of being lost
        return woken


@dataclass
class Stats:
    fetched: int = 0
    replied: int = 0
    ignored: int = 0
    refused: int = 0
    failed: int = 0
    retried: int = 0
    rate_waits: int = 0
    last_poll: float = 0.0
    # seconds, fetch to posted: the newest LATENCY_WINDOW (a bot runs for months)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
