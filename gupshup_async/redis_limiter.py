"""RedisLimiter: one app's rate limit shared by every process and host that sends for it.

Gupshup's limit belongs to the app, not to a process: four replicas each with their own bucket
send four times too fast. The same `Limiter` protocol as the in-process bucket, kept in Redis:

- the app-wide limit is GCRA (a token bucket in one timestamp) in one atomic Lua script, on
  Redis's own clock (``TIME``), so the hosts' clocks do not matter;
- the spacing per recipient, a 429's pause and the lowered rate after it (and its recovery) are
  shared the same way;
- keys are ``<prefix>:<app id>:...`` and expire, so nothing piles up; the token never goes to
  Redis.

When Redis cannot be reached within ``timeout``, `acquire` raises `LimiterUnavailable` (fail
closed: nothing is sent faster than allowed), or, with ``fallback_share``, waits on an
in-process bucket at that share of the rate until Redis answers again. redis-py reconnects by
itself. Needs the ``redis`` extra: ``pip install 'gupshup-async[redis]'``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import attrs

from gupshup_async.errors import LimiterUnavailable
from gupshup_async.ratelimit import (
    FLOOR_SHARE,
    RECOVERY_SHARE,
    Approach,
    Grant,
    RateLimit,
    Ready,
    TokenBucketLimiter,
)

__all__ = ["LimiterUnavailable", "RedisLimiter"]

logger = logging.getLogger("gupshup_async.redis")

# KEYS: tat, pause, rate, recipient ("" for none). ARGV: configured rate a second, burst,
# recipient interval in µs (0 for none), ttl in ms. Returns {reserved, µs to wait, now in µs}:
# reserved 1
# means a slot is this request's, to be used after the wait; 0 means wait, then ask again (a
# pause, or the recipient's spacing). Slots are handed out in advance, interval apart, so a
# waiter that wakes late costs no capacity and no window ever holds more than the rate allows.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < paused then return {0, paused - now, now} end
if KEYS[4] ~= '' then
  local ready = tonumber(redis.call('GET', KEYS[4]) or '0')
  if now < ready then return {0, ready - now, now} end
end
local rate = tonumber(redis.call('GET', KEYS[3]) or ARGV[1])
local interval = math.ceil(1000000 / rate)
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local start = new_tat - burst * interval
redis.call('SET', KEYS[1], new_tat, 'PX', tonumber(ARGV[4]) + math.floor((new_tat - now) / 1000))
local spacing = tonumber(ARGV[3])
if KEYS[4] ~= '' and spacing > 0 then
  local at = math.max(start, now)
  redis.call('SET', KEYS[4], at + spacing, 'PX', math.floor((at - now + spacing) / 1000) + 1)
end
if start > now then return {1, start - now, now} end
return {1, 0, now}
"""

# KEYS: pause, rate. ARGV: wait in µs, configured rate, floor share. One decrease an episode.
_RATE_LIMITED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
local wait = tonumber(ARGV[1])
if now >= paused then
  local configured = tonumber(ARGV[2])
  local rate = tonumber(redis.call('GET', KEYS[2]) or configured)
  local lowered = math.max(configured * tonumber(ARGV[3]), rate / 2)
  redis.call('SET', KEYS[2], lowered, 'PX', 600000)
end
if now + wait > paused then
  redis.call('SET', KEYS[1], now + wait, 'PX', math.floor(wait / 1000) + 1)
end
return 0
"""

# KEYS: rate. ARGV: configured rate, step. Gives back a step after a success.
_SUCCEEDED = """
local rate = redis.call('GET', KEYS[1])
if not rate then return 0 end
local raised = tonumber(rate) + tonumber(ARGV[2])
if raised >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) else
  redis.call('SET', KEYS[1], raised, 'PX', 600000) end
return 0
"""

# KEYS: recipient. ARGV: wait in µs.
_RECIPIENT_LIMITED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
local ready = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > ready then
  redis.call('SET', KEYS[1], until_, 'PX', math.floor(tonumber(ARGV[1]) / 1000) + 1)
end
return 0
"""


class RedisLimiter:
    """``RedisLimiter("redis://localhost:6379/0", app_id, RateLimit(10))``: the `Limiter` of
    every process sending for ``app_id``; pass it as ``GupshupClient(rate_limit=...)``.

    ``redis`` is a URL or a ``redis.asyncio.Redis`` client; ``timeout`` bounds each call to
    Redis; ``fallback_share`` (0 to 1) sends at that share of the rate from an in-process
    bucket while Redis is away, instead of failing with `LimiterUnavailable`.
    """

    def __init__(
        self,
        redis: Any,
        app_id: str,
        config: RateLimit = RateLimit(),  # noqa: B008  (frozen)
        *,
        timeout: float = 0.5,
        fallback_share: float | None = None,
        prefix: str = "gupshup-async",
    ) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:  # pragma: no cover - depends on how it was installed
            raise ImportError(
                "RedisLimiter needs the redis extra: pip install 'gupshup-async[redis]'"
            ) from None
        if fallback_share is not None and not 0 < fallback_share <= 1:
            raise ValueError(f"fallback_share must be in (0, 1], got {fallback_share!r}")
        if isinstance(redis, str):
            redis = aioredis.Redis.from_url(
                redis, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self.redis = redis
        self.config = config
        self.timeout = timeout
        self._errors: tuple[type[BaseException], ...] = (
            aioredis.ConnectionError,
            aioredis.TimeoutError,
            OSError,
            asyncio.TimeoutError,
        )
        base = f"{prefix}:{app_id}"
        self._tat, self._pause, self._rate = f"{base}:tat", f"{base}:pause", f"{base}:rate"
        self._recipient = f"{base}:to:"
        self._fallback = (
            TokenBucketLimiter(attrs.evolve(config, per_second=config.per_second * fallback_share))
            if fallback_share is not None
            else None
        )
        self._acquire = redis.register_script(_ACQUIRE)
        self._limited = redis.register_script(_RATE_LIMITED)
        self._succeeded = redis.register_script(_SUCCEEDED)
        self._recipient_limited = redis.register_script(_RECIPIENT_LIMITED)
        self._background: set[asyncio.Task[Any]] = set()
        self.approach = Approach()
        # GCRA's key lives as long as the bucket could matter: a second's worth and more.
        self._ttl_ms = int(max(1000.0, 2000.0 * config.burst / config.pace))

    def __repr__(self) -> str:
        return f"RedisLimiter({self._tat.rsplit(':', 1)[0]!r}, {self.config!r})"

    async def acquire(self, recipient: str, ready: Ready | None = None) -> None:
        await self.approach.take(ready, functools.partial(self._acquire_slot, recipient))

    async def _acquire_slot(self, recipient: str, ready: Ready | None) -> None:
        loop = asyncio.get_running_loop()
        interval = 1 / self.config.pace
        while True:
            try:
                grant = await self.reserve(recipient)
            except LimiterUnavailable:
                if self._fallback is None:
                    raise
                logger.warning("Redis did not answer; sending at the fallback share")
                await self._fallback.acquire(recipient, ready)
                return
            slot = loop.time() + grant.wait  # Redis's slot, on this process's clock
            if grant.final:
                self.approach.granted(grant.wait)
            if ready is not None and grant.final:
                kept = await self.approach.meet(slot, interval, ready)
                ready = None
                if not kept:
                    continue  # the slot went by while ``ready`` ran: take the next free one
            wait = slot - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if grant.final:
                return

    async def reserve(self, recipient: str) -> Grant:
        """Ask Redis once for a slot (`acquire` asks, sleeps, and asks again when told to).
        ``Grant.at`` is on Redis's clock, in seconds; raises `LimiterUnavailable` when Redis
        does not answer within ``timeout``.
        """
        spacing = self.config.per_recipient_interval
        keys = [self._tat, self._pause, self._rate, self._recipient + recipient if spacing else ""]
        args = [self.config.pace, self.config.burst, int((spacing or 0) * 1e6), self._ttl_ms]
        try:
            answer = await asyncio.wait_for(self._acquire(keys=keys, args=args), self.timeout)
        except self._errors as exc:
            raise LimiterUnavailable(
                f"the shared rate limiter (Redis) did not answer: {type(exc).__name__}"
            ) from None
        reserved, wait_us, now_us = int(answer[0]), int(answer[1]), int(answer[2])
        return Grant((now_us + wait_us) / 1e6, wait_us / 1e6, final=bool(reserved))

    def succeeded(self) -> None:
        step = self.config.pace * RECOVERY_SHARE
        self._later(self._succeeded(keys=[self._rate], args=[self.config.pace, step]))

    def rate_limited(self, wait: float) -> None:
        args = [int(wait * 1e6), self.config.pace, FLOOR_SHARE]
        self._later(self._limited(keys=[self._pause, self._rate], args=args))
        if self._fallback is not None:
            self._fallback.rate_limited(wait)

    def recipient_limited(self, recipient: str, wait: float) -> None:
        key = self._recipient + recipient
        self._later(self._recipient_limited(keys=[key], args=[int(wait * 1e6)]))

    def _later(self, call: Any) -> None:
        """Send an update without holding up the send path; a lost one only costs accuracy."""

        async def run() -> None:
            try:
                await asyncio.wait_for(call, self.timeout)
            except self._errors:
                logger.debug("a rate-limit update did not reach Redis")

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.redis.aclose()
