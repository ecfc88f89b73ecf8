"""One app's rate limit shared through a real redis-server: across limiters, processes and
shards, and what happens when Redis goes away.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gupshup_async import LimiterUnavailable, RateLimit, RedisLimiter
from gupshup_async.ratelimit import Grant
from tests.redis_server import RedisServer
from tests.servers import sandbox_process


def largest_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class Recording(RedisLimiter):
    """A RedisLimiter that keeps the slots Redis granted it, on Redis's clock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.granted: list[float] = []

    async def reserve(self, recipient: str) -> Grant:
        grant = await super().reserve(recipient)
        if grant.final:
            self.granted.append(grant.at)
        return grant


def assert_spaced(slots: list[float], rate: float) -> None:
    """Slots one interval apart at least (to the microsecond Redis counts in), and so never
    more than the rate in any second.
    """
    slots = sorted(slots)
    interval = 1 / rate
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= interval - 2e-6, min(gaps)
    assert largest_in_window(slots, 1.0) <= rate + 1


async def _let_through(limiter: RedisLimiter, seconds: float, tasks: int) -> list[float]:
    loop = asyncio.get_running_loop()
    times: list[float] = []
    deadline = loop.time() + seconds

    async def worker(n: int) -> None:
        while loop.time() < deadline:
            await limiter.acquire(f"9170{n:08d}")
            times.append(loop.time())

    await asyncio.gather(*(worker(n) for n in range(tasks)))
    return [t for t in times if t < deadline]


async def test_two_limiters_of_one_app_share_its_rate(redis_server: RedisServer) -> None:
    rate = RateLimit(50)
    first = Recording(redis_server.url, "app-1", rate, timeout=5.0)
    second = Recording(redis_server.url, "app-1", rate, timeout=5.0)
    other_app = Recording(redis_server.url, "app-2", rate, timeout=5.0)
    await asyncio.gather(
        _let_through(first, 2.0, 10),
        _let_through(second, 2.0, 10),
        _let_through(other_app, 2.0, 10),
    )
    assert first.granted
    assert second.granted
    # 50 a second between them, not 50 each: every slot of one app 20 ms from the next.
    assert_spaced(first.granted + second.granted, 50)
    # Another app has its own limit: its slots may fall between app-1's.
    together = sorted(first.granted + other_app.granted)
    assert min(b - a for a, b in itertools.pairwise(together)) < 0.02
    for limiter in (first, second, other_app):
        await limiter.aclose()


async def test_a_429_pauses_every_limiter_of_the_app(redis_server: RedisServer) -> None:
    one = RedisLimiter(redis_server.url, "app-1", RateLimit(100))
    two = RedisLimiter(redis_server.url, "app-1", RateLimit(100))
    await two.acquire("919876543210")
    one.rate_limited(0.6)  # the server said: slow down
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await two.acquire("919876543210")
    assert loop.time() - start >= 0.5
    await one.aclose()
    await two.aclose()


async def test_recipient_spacing_is_shared(redis_server: RedisServer) -> None:
    config = RateLimit(1000, per_recipient_interval=0.5)
    one = RedisLimiter(redis_server.url, "app-1", config)
    two = RedisLimiter(redis_server.url, "app-1", config)
    loop = asyncio.get_running_loop()
    await one.acquire("919876543210")
    start = loop.time()
    await two.acquire("919876543210")  # the same person, from another process
    assert loop.time() - start >= 0.4
    await one.aclose()
    await two.aclose()


async def test_when_redis_stops_acquire_fails_closed_or_falls_back(
    redis_server: RedisServer,
) -> None:
    closed = RedisLimiter(redis_server.url, "app-1", RateLimit(100), timeout=0.3)
    fallback = RedisLimiter(
        redis_server.url, "app-1", RateLimit(100), timeout=0.3, fallback_share=0.25
    )
    await closed.acquire("919876543210")
    redis_server.stop()
    with pytest.raises(LimiterUnavailable, match="did not answer"):
        await closed.acquire("919876543210")
    times = await _let_through(fallback, 1.0, 5)
    assert 10 <= len(times) <= 25 + 2  # a quarter of the rate, never more
    redis_server.start()  # Redis comes back on the same port: no restart of ours needed
    await closed.acquire("919876543210")
    await closed.aclose()
    await fallback.aclose()


def test_the_token_never_reaches_redis(redis_server: RedisServer) -> None:
    async def send() -> None:
        from gupshup_async import ButtonMessage, GupshupClient
        from gupshup_async.sandbox import Sandbox

        async with Sandbox() as sandbox:
            limiter = RedisLimiter(redis_server.url, sandbox.app_id, RateLimit(100))
            async with GupshupClient(
                sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=limiter
            ) as client:
                await client.send("+91 98765 43210", ButtonMessage("Hi", ["OK"]))
            await limiter.aclose()

    asyncio.run(send())
    import redis

    keys = redis.Redis.from_url(redis_server.url).keys("*")
    assert keys
    assert all(b"sandbox-token" not in key for key in keys)
    assert all(key.startswith(b"gupshup-async:sandbox-app:") for key in keys)


WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from gupshup_async import ButtonMessage, GupshupClient, RateLimit, RedisLimiter
    from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN

    class Recording(RedisLimiter):  # the slots Redis granted, on Redis's clock
        granted = []
        async def reserve(self, recipient):
            grant = await super().reserve(recipient)
            if grant.final:
                self.granted.append(grant.at)
            return grant

    async def main(base_url, redis_url, rate, seconds, n, start_at):
        # What is measured is the sharing; on a loaded 2-core CI machine, running under
        # coverage, a Redis call can wait longer than the 0.5 s default for its turn.
        limiter = Recording(redis_url, SANDBOX_APP_ID, RateLimit(rate), timeout=5.0)
        message = ButtonMessage("Hi", ["OK"])
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        def items():
            i = 0
            while time.time() < deadline:
                i += 1
                yield f"+9170{n}{i:07d}", message
        async with GupshupClient(SANDBOX_APP_ID, SANDBOX_TOKEN, base_url=base_url,
                                 rate_limit=limiter) as client:
            async for outcome in client.send_many(items(), concurrency=50):
                assert outcome.ok, outcome.error
        await limiter.aclose()
        print(json.dumps(Recording.granted))

    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]),
                     int(sys.argv[5]), float(sys.argv[6])))
    """
)


@pytest.fixture
def sandbox_at_200() -> Iterator[str]:
    # 5% above the limiter's 200: the limiter spaces requests exactly when it lets them go;
    # the server sees them after scheduling and network jitter of a few milliseconds.
    with sandbox_process("--rate", "210") as url:
        yield url


def test_four_processes_share_one_rate_of_200_a_second(
    redis_server: RedisServer, sandbox_at_200: str, tmp_path: Path
) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    # All four start together, once they are up (a loaded machine takes seconds to start four).
    seconds, start_at = 5.0, time.time() + 10.0
    argv = [sys.executable, str(script), sandbox_at_200, redis_server.url, "200", str(seconds)]
    workers = [
        subprocess.Popen(
            [*argv, str(n), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    granted: list[list[float]] = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=90)
            assert worker.returncode == 0, err
            granted.append(json.loads(out.strip().splitlines()[-1]))
    finally:  # a failure leaves no process or pipe behind for a later test to trip on
        for worker in workers:
            worker.kill()
            worker.communicate()
    # Where the limiter decides: each process was granted slots, and the four together were
    # never granted two within 5 ms, so never more than 200 in any second. (The rate achieved
    # and the server's 429s depend on the machine: benchmarks/limiter.py measures them.)
    assert all(granted)
    assert_spaced([slot for slots in granted for slot in slots], 200)
    account = httpx.get(f"{sandbox_at_200}/sandbox/account", timeout=10).json()
    # Every grant became exactly one request at the server (retries after a 429 included).
    assert sum(account["answers"].values()) == sum(map(len, granted))


SHARD = textwrap.dedent(
    """
    import asyncio, sys
    from gupshup_async import ButtonMessage, GupshupClient, RateLimit
    from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN

    async def main(base_url, journal, shard):
        items = [(f"+9170{n:08d}", ButtonMessage(f"{k} for {n}", ["OK"]))
                 for n in range(100) for k in ("first", "second")]
        async with GupshupClient(SANDBOX_APP_ID, SANDBOX_TOKEN, base_url=base_url,
                                 rate_limit=RateLimit(100)) as client:
            run = client.send_many(items, concurrency=8, journal=journal, shard=(shard, 2))
            async for outcome in run:
                error = outcome.error
                state = "ok" if error is None else ("ambiguous" if error.ambiguous else "failed")
                print(outcome.to, state, flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


def test_two_shards_one_killed_and_resumed_message_everyone_once_in_order(
    tmp_path: Path,
) -> None:
    with sandbox_process() as url:
        script = tmp_path / "shard.py"
        script.write_text(SHARD)
        argv = [sys.executable, str(script), url]
        zero = subprocess.Popen([*argv, str(tmp_path / "s0.db"), "0"], stdout=subprocess.PIPE)
        one = subprocess.Popen(
            [*argv, str(tmp_path / "s1.db"), "1"], stdout=subprocess.PIPE, text=True
        )
        assert one.stdout is not None
        for _ in range(30):
            one.stdout.readline()
        os.kill(one.pid, signal.SIGKILL)
        one.wait(timeout=10)
        one.stdout.close()
        resumed = subprocess.run(
            [*argv, str(tmp_path / "s1.db"), "1"], capture_output=True, text=True, timeout=120
        )
        zero.communicate(timeout=120)
        account = httpx.get(f"{url}/sandbox/account", timeout=10).json()
    assert resumed.returncode == 0, resumed.stderr
    ambiguous = {line.split()[0] for line in resumed.stdout.splitlines() if "ambiguous" in line}
    # At most what can be on the wire at once (8 workers): an in-flight mark is made after the
    # limiter's grant. (How many of them were on the wire at the kill depends on the machine's
    # load; tests/test_campaign_resume.py bounds the marks made while waiting for the limiter.)
    assert len(ambiguous) <= 8
    by_recipient = account["by_recipient"]
    everyone = {f"9170{n:08d}" for n in range(100)}
    for messages in by_recipient.values():
        bodies = [m["body"] for m in messages]
        assert len(bodies) == len(set(bodies))  # nobody got a message twice
        assert bodies == sorted(bodies, key=lambda b: b.startswith("second"))  # in order
    complete = {to for to, messages in by_recipient.items() if len(messages) == 2}
    assert complete | ambiguous == everyone  # nobody lost
