"""An event loop whose clock jumps to the next timer whenever nothing else is ready.

Tests of waits (backoff, Retry-After, rate limits) run in it instantly and exactly: an
``asyncio.sleep(60)`` takes no real time and advances ``loop.time()`` by 60. Only for tests
without real sockets (respx answers in memory): a real answer still on its way would look like
idleness and the clock would jump past it.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

_STUCK_AFTER = 5.0  # real seconds with no timer and no I/O: a deadlock, not a wait


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    #: Seconds every timer fires late, as on a real, busy event loop (0: exactly on time).
    lateness = 0.0

    def __init__(self) -> None:
        super().__init__(selectors.DefaultSelector())
        self._virtual_now = 0.0
        real_select = self._selector.select  # type: ignore[attr-defined]

        def select(timeout: float | None = None) -> list[Any]:
            ready = real_select(0)
            if ready or timeout == 0:
                return ready  # type: ignore[no-any-return]
            if timeout is None:
                ready = real_select(_STUCK_AFTER)
                if not ready:
                    raise RuntimeError("virtual time: nothing scheduled and no I/O: deadlock")
                return ready  # type: ignore[no-any-return]
            self._virtual_now += timeout + self.lateness
            return []

        self._selector.select = select  # type: ignore[attr-defined]

    def time(self) -> float:
        return self._virtual_now
