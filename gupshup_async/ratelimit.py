"""Token buckets: one per app, an interval per recipient, and a pause for everyone on a 429.

`RateLimit` holds the knobs; `Limiter` is the protocol the client talks to, so that a backend
shared by many processes (Redis, say) can replace the in-process `TokenBucketLimiter`.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol, runtime_checkable

import attrs
from aiolimiter import AsyncLimiter

__all__ = ["Limiter", "RateLimit", "TokenBucketLimiter"]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


def _positive_or_none(
    instance: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive or None, got {value!r}")


@attrs.frozen
class RateLimit:
    """How fast to send.

    - ``per_second``: requests per second for the app, retries included (Gupshup allows 10 a
      second per app unless your plan says otherwise).
    - ``burst``: how many may leave at once after a quiet spell; the default 1 spaces requests
      evenly, so the server never sees more than ``per_second`` in any second.
    - ``per_recipient_interval``: the least time between two messages to one recipient, in
      seconds (WhatsApp's pair rate limit is about one every 6 seconds); None for no spacing.
    """

    per_second: float = attrs.field(default=10.0, validator=_positive)
    burst: int = attrs.field(default=1)
    per_recipient_interval: float | None = attrs.field(default=None, validator=_positive_or_none)

    @burst.validator
    def _at_least_one(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"burst must be a whole number of at least 1, got {value!r}")

    def limiter(self) -> TokenBucketLimiter:
        return TokenBucketLimiter(self)


@runtime_checkable
class Limiter(Protocol):
    """What the client asks of a rate limiter. Every attempt, retries included, acquires."""

    async def acquire(self, recipient: str) -> None:
        """Wait until a request to ``recipient`` may leave."""

    def succeeded(self) -> None:
        """A request was accepted: the rate may recover."""

    def rate_limited(self, wait: float) -> None:
        """The app was told to slow down: pause everyone for ``wait`` seconds, lower the rate."""

    def recipient_limited(self, recipient: str, wait: float) -> None:
        """Too many messages to one recipient: hold that recipient for ``wait`` seconds."""


class _Bucket(AsyncLimiter):
    """aiolimiter's leaky bucket, with two changes to how it drains:

    - It keeps a little credit below empty. aiolimiter stops draining at 0, so every moment a
      waiter wakes late (event-loop latency, a millisecond or two) is capacity lost for good:
      measured here, a bucket of 1 at 80/s achieved 69/s. Carrying up to ``_CREDIT`` seconds
      of lateness (at least half a token) forward keeps the long-run rate exact, at the price
      of at most that much extra in a short window, never a whole second's worth.
    - No floating-point dust: a level 1e-16 above a whole number would make it re-arm a timer
      for "now" forever under a coarse or frozen clock (Windows' 15 ms ticks, virtual time).
    """

    __slots__ = ("_credit",)

    def __init__(self, max_rate: float, time_period: float) -> None:
        super().__init__(max_rate, time_period)
        self._credit = max(0.5, _CREDIT * self._rate_per_sec)

    def _leak(self) -> None:
        now = self._loop.time()
        drained = self._level - (now - self._last_check) * self._rate_per_sec
        self._level = round(max(drained, -self._credit), 9)
        self._last_check = now


# Lateness carried forward by the bucket, in seconds.
_CREDIT = 0.01

# After a 429 the rate halves (not below this share of the configured rate), and every success
# gives back this share of it: about 25 successes from half speed to full.
_FLOOR_SHARE = 1 / 64
_RECOVERY_SHARE = 1 / 50


class TokenBucketLimiter:
    """The in-process limiter: an aiolimiter bucket per app, without aiolimiter's start-up
    burst (the bucket holds ``burst`` tokens, not a second's worth), an additive-increase,
    multiplicative-decrease rate below it after 429s, and a pause everyone honours.
    """

    def __init__(self, config: RateLimit) -> None:
        self.config = config
        self._bucket = _Bucket(config.burst, config.burst / config.per_second)
        self._rate = config.per_second
        self._floor = config.per_second * _FLOOR_SHARE
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._recipients: dict[str, float] = {}  # recipient -> loop time it may be sent to
        self._prune_at = 1024

    @property
    def rate(self) -> float:
        """The rate in force now: the configured one, or less after 429s."""
        return self._rate

    async def acquire(self, recipient: str) -> None:
        if self._recipients or self.config.per_recipient_interval is not None:
            await self._recipient_turn(recipient)
        await self._app_turn()

    async def _app_turn(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if now < self._paused_until:
                await asyncio.sleep(self._paused_until - now)
                continue
            await self._bucket.acquire()
            now = loop.time()
            if now < self._paused_until:
                continue  # paused while queued: queue again behind the pause
            if self._rate >= self.config.per_second:
                return
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self._rate
            if slot <= now:
                return
            await asyncio.sleep(slot - now)
            if loop.time() >= self._paused_until:
                return

    async def _recipient_turn(self, recipient: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            ready = self._recipients.get(recipient, 0.0)
            if now >= ready:
                break
            await asyncio.sleep(ready - now)
        interval = self.config.per_recipient_interval
        if interval is None:
            self._recipients.pop(recipient, None)
        else:
            self._recipients[recipient] = now + interval
            if len(self._recipients) >= self._prune_at:
                self._prune(now)

    def _prune(self, now: float) -> None:
        self._recipients = {r: t for r, t in self._recipients.items() if t > now}
        self._prune_at = max(1024, 2 * len(self._recipients))

    def succeeded(self) -> None:
        if self._rate < self.config.per_second:
            step = self.config.per_second * _RECOVERY_SHARE
            self._rate = min(self.config.per_second, self._rate + step)

    def rate_limited(self, wait: float) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._paused_until:  # one decrease per episode, not one per request in it
            self._rate = max(self._floor, self._rate / 2)
            self._next_slot = 0.0
        self._paused_until = max(self._paused_until, now + wait)

    def recipient_limited(self, recipient: str, wait: float) -> None:
        now = asyncio.get_running_loop().time()
        self._recipients[recipient] = max(self._recipients.get(recipient, 0.0), now + wait)
