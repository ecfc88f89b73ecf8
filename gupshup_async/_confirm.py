"""Waiting for the statuses that settle uncertain attempts: one poll of the status source for
every send waiting at the time, however many there are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from gupshup_async.stores.statuses import Seen, StatusSource

__all__ = ["Confirmer"]

logger = logging.getLogger("gupshup_async")


class Confirmer:
    """``await confirmer.wait(tags, within)``: the first `Seen` of any of ``tags`` that the
    source reports within ``within`` seconds, or None. Each wait holds only its caller.
    """

    def __init__(self, source: StatusSource, *, poll: float = 0.2) -> None:
        self.source = source
        self.poll = poll
        self._waiting: dict[str, list[asyncio.Future[Seen]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def check(self, tags: Sequence[str]) -> list[Seen]:
        """What the source knows of ``tags`` now (a failing source is logged, and knows
        nothing: the send then goes on as without one).
        """
        try:
            return await self.source.seen(tags)
        except Exception as failure:  # a status source is advice, never a reason to fail a send
            logger.warning("the status source %r failed: %s", self.source, failure)
            return []

    async def wait(self, tags: Sequence[str], within: float) -> Seen | None:
        found = await self.check(tags)
        if found or within <= 0:
            return found[0] if found else None
        answer: asyncio.Future[Seen] = asyncio.get_running_loop().create_future()
        for tag in tags:
            self._waiting.setdefault(tag, []).append(answer)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="gupshup-confirm")
        try:
            return await asyncio.wait_for(answer, within)
        except asyncio.TimeoutError:
            return None
        finally:
            for tag in tags:
                waiters = self._waiting.get(tag)
                if waiters is not None:
                    if answer in waiters:
                        waiters.remove(answer)
                    if not waiters:
                        del self._waiting[tag]

    async def _poll(self) -> None:
        while self._waiting:
            await asyncio.sleep(self.poll)
            for seen in await self.check(list(self._waiting)):
                for answer in self._waiting.get(seen.tag, ()):
                    if not answer.done():
                        answer.set_result(seen)
