"""An event loop whose clock jumps to the next timer whenever nothing else is ready.

Tests of waits (backoff, Retry-After, rate limits) run in it instantly and exactly: an
``asyncio.sleep(60)`` takes no real time and advances ``loop.time()`` by 60. Only for tests
without real sockets (respx answers in memory): a real answer still on its way would look like
idleness and the clock would jump past it.

Built on public seams only: ``SelectorEventLoop`` takes the selector it waits on (ours asks the
real one without blocking, and turns a wait into a jump of the clock), and ``time`` is the
loop's public clock.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

_STUCK_AFTER = 5.0  # real seconds with no timer and no I/O: a deadlock, not a wait


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Polls for I/O without waiting; a wait for a timer moves the virtual clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        #: Seconds every timer fires late, as on a real, busy event loop (0: exactly on time).
        self.lateness = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        ready: list[Any] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            ready = super().select(_STUCK_AFTER)
            if not ready:
                raise RuntimeError("virtual time: nothing scheduled and no I/O: deadlock")
            return ready
        self.now += timeout + self.lateness
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.selector_in_use = _JumpingSelector()
        super().__init__(self.selector_in_use)

    @property
    def lateness(self) -> float:
        """Seconds every timer fires late (0: exactly on time)."""
        return self.selector_in_use.lateness

    @lateness.setter
    def lateness(self, seconds: float) -> None:
        self.selector_in_use.lateness = seconds

    def time(self) -> float:
        return self.selector_in_use.now
