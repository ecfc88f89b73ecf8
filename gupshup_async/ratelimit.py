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
import functools
import math
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import attrs

__all__ = [
    "Approach",
    "Grant",
    "Limiter",
    "RateLimit",
    "RateSchedule",
    "Ready",
    "TokenBucketLimiter",
]

#: What must end before a request leaves (a campaign's in-flight mark in its journal).
Ready = Callable[[], Awaitable[None]]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


def _positive_or_none(
    instance: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive or None, got {value!r}")


def _share_below_half(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 0.5:
        raise ValueError(f"{attribute.name} must be a share from 0 to below 0.5, got {value!r}")


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
    - ``headroom``: the share of ``per_second`` left unused (default 2%), so that a request
      delayed a little on its way (a busy machine, the network) does not land in the same
      second as the one a second before it at a server that counts exactly ``per_second`` in
      any sliding second, as Gupshup does: requests are spaced at `pace`. 0 spaces them at
      exactly ``per_second``.
    """

    per_second: float = attrs.field(default=10.0, validator=_positive)
    burst: int = attrs.field(default=1, validator=_whole_at_least_one)
    per_recipient_interval: float | None = attrs.field(default=None, validator=_positive_or_none)
    headroom: float = attrs.field(default=0.02, validator=_share_below_half)

    @property
    def pace(self) -> float:
        """The rate requests are spaced at: ``per_second`` less the headroom."""
        return self.per_second * (1 - self.headroom)

    def limiter(self) -> TokenBucketLimiter:
        return TokenBucketLimiter(self)


@runtime_checkable
class Limiter(Protocol):
    """What the client asks of a rate limiter. Every attempt, retries included, acquires."""

    async def acquire(self, recipient: str, ready: Ready | None = None) -> None:
        """Wait until a request to ``recipient`` may leave. ``ready``, when given, must end
        before it leaves: run it as the slot approaches (`Approach`), and if it ends after the
        slot, give that slot up and take another, so that a slow ``ready`` never lets requests
        out together.
        """

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
        #: The rate in force: the configured pace, or less after 429s.
        self.rate = config.pace
        self._floor = config.pace * FLOOR_SHARE
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
        pace = self.config.pace
        if self.rate < pace:
            self.rate = min(pace, self.rate + pace * RECOVERY_SHARE)

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


# How long before its slot a request starts what must end first: at least this, at most that.
LEAD_MIN = 0.05
LEAD_MAX = 2.0
# How late after its slot that may end and the slot still be used: well within the headroom's
# 20 ms a second, so that a late request does not meet the count of the second before it.
LATE_MAX = 0.005


class Approach:
    """When, as a request's slot approaches, to start what must end before it leaves (a
    campaign's in-flight mark): ``lead`` seconds early, learnt from how long it took before.

    The slot is kept only if that work ended by the slot, or at most 5 ms (and half an
    interval) after it, the lateness an ordinary wake-up has too; otherwise the slot is given
    up and the request asks for another. So a stalled journal wastes slots and never releases
    a burst, and only requests whose slot is near carry a mark (after a crash, each marked
    request counts as ambiguous).
    """

    __slots__ = ("idle", "lead", "waiting")

    def __init__(self) -> None:
        self.lead = LEAD_MIN
        #: Whether the latest slot was free at once.
        self.idle = True
        #: Requests inside `acquire` now.
        self.waiting = 0

    def granted(self, wait: float) -> None:
        """The limiter answered with a slot ``wait`` seconds away."""
        self.idle = wait <= 0

    def ready_first(self) -> bool:
        """Whether ``ready`` should run before the slot is asked for: when the limiter is not
        what holds sends back (its last slot was free at once, and nobody else is waiting
        for one). Asked for first, a slot that ``ready`` outlasted would be wasted and the
        next one an interval away; with others waiting, each would be marked long before it
        leaves.
        """
        return self.idle and self.waiting == 0

    async def take(
        self, ready: Ready | None, slot: Callable[[Ready | None], Awaitable[None]]
    ) -> None:
        """Wait for a slot with ``slot(ready)`` (which runs what ``ready`` it is given as its
        slot approaches), after running ``ready`` itself when `ready_first` says so.
        """
        first = ready is not None and self.ready_first()
        self.waiting += 1
        try:
            if first and ready is not None:
                await ready()
                ready = None
            await slot(ready)
        finally:
            self.waiting -= 1

    async def meet(self, slot: float, interval: float, ready: Ready) -> bool:
        """Run ``ready`` to end before ``slot`` (on the event loop's clock); whether it did."""
        loop = asyncio.get_running_loop()
        early = slot - self.lead - loop.time()
        if early > 0:
            await asyncio.sleep(early)
        started = loop.time()
        await ready()
        ended = loop.time()
        # Thrice the last duration, falling back slowly after a slow one.
        self.lead = min(LEAD_MAX, max(LEAD_MIN, 3 * (ended - started), 0.95 * self.lead))
        return ended <= slot + min(LATE_MAX, interval / 2)


class TokenBucketLimiter:
    """The in-process limiter: a `RateSchedule` on the event loop's clock.

    A request sleeps until the slot it was given; if a 429 paused everyone meanwhile, its slot
    is void and it asks again, behind the pause and at the lowered rate.
    """

    def __init__(self, config: RateLimit) -> None:
        self.config = config
        self.schedule = RateSchedule(config)
        self.approach = Approach()

    @property
    def rate(self) -> float:
        """The rate in force now: the configured one, or less after 429s."""
        return self.schedule.rate

    async def acquire(self, recipient: str, ready: Ready | None = None) -> None:
        await self.approach.take(ready, functools.partial(self._acquire, recipient))

    async def _acquire(self, recipient: str, ready: Ready | None) -> None:
        schedule = self.schedule
        loop = asyncio.get_running_loop()
        while True:
            epoch = schedule.epoch
            grant = self.reserve(recipient)
            if grant.final:
                self.approach.granted(grant.wait)
            if ready is not None and grant.final:
                kept = await self.approach.meet(grant.at, 1 / schedule.rate, ready)
                ready = None
                if not kept:
                    continue  # the slot went by while ``ready`` ran: take the next free one
            wait = grant.at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
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
