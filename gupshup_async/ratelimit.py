"""Rate limits: one per app, an interval per recipient, and a pause for everyone on a 429.

`RateLimit` holds the knobs; `Limiter` is the protocol the client talks to, so that a backend
shared by many processes (`RedisLimiter`) can replace the in-process `TokenBucketLimiter`.

The in-process limiter is a pure schedule (`RateSchedule`: GCRA, the token bucket kept as one
"theoretical arrival time", every decision taking ``now``) under a thin asyncio shell that
sleeps until the slot it was given. It is the algorithm `RedisLimiter` runs in Redis, so one
app's limit means the same thing in one process and in many. Slots are handed out in advance,
one interval apart: a task that wakes late uses its slot late but costs no capacity, and the
first request is not preceded by a catch-up burst (docs/architecture.md, "The limiter").
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["Grant", "Limiter", "RateLimit", "RateSchedule", "TokenBucketLimiter"]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


def _positive_or_none(
    instance: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive or None, got {value!r}")


def _whole_at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a whole number of at least 1, got {value!r}")


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
    burst: int = attrs.field(default=1, validator=_whole_at_least_one)
    per_recipient_interval: float | None = attrs.field(default=None, validator=_positive_or_none)

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


# After a 429 the rate halves (not below this share of the configured rate), and every success
# gives back this share of it: about 25 successes from half speed to full. RedisLimiter uses
# the same shares.
FLOOR_SHARE = 1 / 64
RECOVERY_SHARE = 1 / 50
# Recipients whose spacing has run out are forgotten once this many are tracked.
_PRUNE_AT = 1024


@attrs.frozen
class Grant:
    """What a limiter decided for one request: ``at``, the moment it may leave, on the
    limiter's clock (the event loop's in process, Redis's for `RedisLimiter`); ``wait``, how
    long from the asking until then; ``final``, whether that moment is the request's own slot
    (False: wait, then ask again, as for a pause or a recipient's spacing).
    """

    at: float
    wait: float
    final: bool


class RateSchedule:
    """The limiter's decisions, without a clock of its own: every call takes ``now``.

    GCRA: ``tat`` is the theoretical arrival time of the next request at the current rate; a
    request asking at ``now`` gets the slot ``max(now, tat - (burst - 1) * interval)`` and
    moves ``tat`` one interval on. So no window of ``T`` seconds holds more than
    ``rate * T + burst`` slots, the long-run rate is exact, and an idle limiter starts with
    ``burst`` requests at once, never with a second's worth.
    """

    __slots__ = (
        "_epoch",
        "_floor",
        "_paused_until",
        "_prune_at",
        "_ready",
        "_tat",
        "config",
        "rate",
    )

    def __init__(self, config: RateLimit) -> None:
        self.config = config
        #: The rate in force: the configured one, or less after 429s.
        self.rate = config.per_second
        self._floor = config.per_second * FLOOR_SHARE
        self._tat: int | None = None  # in nanoseconds of the caller's clock
        self._paused_until = -math.inf
        self._epoch = 0  # pauses so far: a slot given before the latest pause is void
        self._ready: dict[str, float] = {}  # recipient -> when it may be sent to again
        self._prune_at = _PRUNE_AT

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def tracked_recipients(self) -> int:
        """How many recipients' spacings are remembered (bounded: expired ones are pruned)."""
        return len(self._ready)

    def reserve(self, recipient: str, now: float) -> Grant:
        """The slot for one request to ``recipient`` asked for at ``now``."""
        if now < self._paused_until:
            return Grant(self._paused_until, self._paused_until - now, final=False)
        ready = self._ready.get(recipient)
        if ready is not None and now < ready:
            return Grant(ready, ready - now, final=False)
        # Whole nanoseconds, the interval rounded up: no float drift lets a 1,001st slot into
        # a second at 1,000 a second.
        interval = math.ceil(1e9 / self.rate)
        at = round(now * 1e9)
        tat = at if self._tat is None or self._tat < at else self._tat
        slot = max(at, tat - (self.config.burst - 1) * interval) / 1e9
        self._tat = tat + interval
        spacing = self.config.per_recipient_interval
        if spacing is not None:
            self._ready[recipient] = slot + spacing
            if len(self._ready) >= self._prune_at:
                self._prune(now)
        elif ready is not None:
            del self._ready[recipient]
        return Grant(slot, max(0.0, slot - now), final=True)

    def succeeded(self) -> None:
        if self.rate < self.config.per_second:
            step = self.config.per_second * RECOVERY_SHARE
            self.rate = min(self.config.per_second, self.rate + step)

    def rate_limited(self, now: float, wait: float) -> None:
        """A 429 for the app: nobody leaves before ``now + wait``, at half the rate."""
        if now >= self._paused_until:  # one decrease per episode, not one per request in it
            self.rate = max(self._floor, self.rate / 2)
        self._paused_until = max(self._paused_until, now + wait)
        self._tat = round(self._paused_until * 1e9)  # slots given before it are taken back
        self._epoch += 1

    def recipient_limited(self, recipient: str, now: float, wait: float) -> None:
        self._ready[recipient] = max(self._ready.get(recipient, -math.inf), now + wait)

    def _prune(self, now: float) -> None:
        self._ready = {r: t for r, t in self._ready.items() if t > now}
        self._prune_at = max(_PRUNE_AT, 2 * len(self._ready))


class TokenBucketLimiter:
    """The in-process limiter: a `RateSchedule` on the event loop's clock.

    A request sleeps until the slot it was given; if a 429 paused everyone meanwhile, its slot
    is void and it asks again, behind the pause and at the lowered rate.
    """

    def __init__(self, config: RateLimit) -> None:
        self.config = config
        self.schedule = RateSchedule(config)

    @property
    def rate(self) -> float:
        """The rate in force now: the configured one, or less after 429s."""
        return self.schedule.rate

    async def acquire(self, recipient: str) -> None:
        schedule = self.schedule
        while True:
            epoch = schedule.epoch
            grant = self.reserve(recipient)
            if grant.wait > 0:
                await asyncio.sleep(grant.wait)
            if grant.final and schedule.epoch == epoch:
                return

    def reserve(self, recipient: str) -> Grant:
        """Ask the schedule once, now (`acquire` asks, sleeps, and asks again when told to)."""
        return self.schedule.reserve(recipient, asyncio.get_running_loop().time())

    def succeeded(self) -> None:
        self.schedule.succeeded()

    def rate_limited(self, wait: float) -> None:
        self.schedule.rate_limited(asyncio.get_running_loop().time(), wait)

    def recipient_limited(self, recipient: str, wait: float) -> None:
        self.schedule.recipient_limited(recipient, asyncio.get_running_loop().time(), wait)
