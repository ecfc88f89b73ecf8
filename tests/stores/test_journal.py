"""The campaign journal under faults: one run at a time, and a journal that cannot be written
ends the run at once, with nothing sent that it did not record.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from gupshup_async import (
    ButtonMessage,
    GupshupClient,
    Journal,
    JournalError,
    RateLimit,
    TokenBucketLimiter,
)
from gupshup_async.errors import NotAttempted
from gupshup_async.ratelimit import Grant, Ready
from gupshup_async.sandbox import Sandbox
from tests.servers import sandbox_process


def items(total: int) -> list[tuple[str, ButtonMessage]]:
    return [(f"+9170{n:08d}", ButtonMessage(f"Message {n}", ["OK"])) for n in range(total)]


async def test_a_second_run_on_the_same_journal_is_refused_while_the_first_runs(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "campaign.db"
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=RateLimit(50)
        ) as client:
            first = client.send_many(items(60), concurrency=8, journal=journal)
            async with first:
                outcomes = [await anext(first) for _ in range(5)]
                second = client.send_many(items(60), concurrency=8, journal=journal)
                with pytest.raises(JournalError, match=r"in use by process \d+"):
                    await anext(second)
                outcomes += [o async for o in first]
            third = client.send_many(items(60), concurrency=8, journal=journal)
            again = [o async for o in third]  # the lock went with the first run
    assert len(outcomes) == 60
    assert all(o.ok for o in outcomes)
    assert all(o.skipped for o in again)
    assert all(len(v) == 1 for v in sandbox.account.by_recipient().values())
    assert len(sandbox.account.processed) == 60


BULK = textwrap.dedent(
    """
    import asyncio, pathlib, sys
    from gupshup_async import ButtonMessage, GupshupClient, RateLimit
    from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN

    async def main(base_url, journal, hold):
        items = [(f"+9170{n:08d}", ButtonMessage(f"Message {n}", ["OK"])) for n in range(100)]
        async with GupshupClient(SANDBOX_APP_ID, SANDBOX_TOKEN, base_url=base_url,
                                 rate_limit=RateLimit(40)) as client:
            async for outcome in client.send_many(items, concurrency=8, journal=journal):
                print(outcome.to, "ok" if outcome.ok else "failed", flush=True)
                # Hold the journal, however slow the machine, until the test lets go.
                while hold and pathlib.Path(hold).exists():
                    await asyncio.sleep(0.05)

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""))
    """
)


def test_two_processes_on_one_journal_message_nobody_twice(tmp_path: Path) -> None:
    script = tmp_path / "bulk.py"
    script.write_text(BULK)
    journal = tmp_path / "campaign.db"
    hold = tmp_path / "hold"
    hold.touch()
    with sandbox_process() as url:
        first = subprocess.Popen(
            [sys.executable, str(script), url, str(journal), str(hold)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert first.stdout is not None
        try:
            first.stdout.readline()  # the first run has its journal open and holds it
            second = subprocess.run(
                [sys.executable, str(script), url, str(journal)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            hold.unlink()  # the first run goes on to the end
        first.communicate(timeout=120)
        account = httpx.get(f"{url}/sandbox/account", timeout=10).json()
    assert second.returncode != 0
    assert f"in use by process {first.pid}" in second.stderr
    assert second.stdout == ""  # it sent nothing
    assert first.returncode == 0
    assert account["processed"] == 100
    assert all(len(messages) == 1 for messages in account["by_recipient"].values())


async def test_a_journal_that_cannot_be_written_ends_the_run_and_nothing_unrecorded_is_sent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "campaign.db"
    journal = Journal(path, timeout=0.3)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    outcomes = []
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=RateLimit(100)
        ) as client:
            run = client.send_many(items(300), concurrency=8, journal=journal)

            async def follow() -> None:
                async for outcome in run:
                    outcomes.append(outcome)
                    if len(outcomes) == 20:
                        # Another connection takes the write lock and keeps it.
                        holder.execute("BEGIN IMMEDIATE")

            with pytest.raises(JournalError, match=r"campaign\.db: the journal cannot be written"):
                await asyncio.wait_for(follow(), 60)  # a hang fails here
        holder.execute("ROLLBACK")
        holder.close()
    stopped = [o for o in outcomes if isinstance(o.error, NotAttempted)]
    assert stopped  # the rest of the campaign was not attempted
    assert len(outcomes) == 300  # one outcome per item all the same
    db = sqlite3.connect(path)
    marked = {to for (to,) in db.execute("SELECT recipient FROM items")}
    db.close()
    sent = {p.to for p in sandbox.account.processed}
    assert sent <= marked  # every request that left had its mark on disk first


def most_in_one_second(times: list[float]) -> int:
    """The most of ``times`` in any half-open second [t, t + 1)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


class Recording(TokenBucketLimiter):
    """What the limiter decided for each request: the slot it kept, and when its in-flight
    mark (the ``ready`` it was given) started and ended, on the event loop's clock.
    """

    def __init__(self, config: RateLimit) -> None:
        super().__init__(config)
        self.kept: list[float] = []
        self.marks: list[tuple[float, float, float]] = []  # started, ended, the slot kept
        self._slot: dict[object, float] = {}

    def reserve(self, recipient: str) -> Grant:
        grant = super().reserve(recipient)
        if grant.final:
            self._slot[asyncio.current_task()] = grant.at
        return grant

    async def acquire(self, recipient: str, ready: Ready | None = None) -> None:
        loop = asyncio.get_running_loop()
        timed: list[tuple[float, float]] = []

        async def mark() -> None:
            assert ready is not None
            started = loop.time()
            await ready()
            timed.append((started, loop.time()))

        if ready is None:
            await super().acquire(recipient)
        else:
            await super().acquire(recipient, mark)
        slot = self._slot.pop(asyncio.current_task())
        self.kept.append(slot)
        self.marks += [(started, ended, slot) for started, ended in timed]


async def test_a_stalled_journal_costs_slots_and_never_lets_a_burst_out(tmp_path: Path) -> None:
    # Another connection holds the journal's write lock for 3 s in the middle of a campaign at
    # 10 a second, 32 at a time. Each request's in-flight mark is stored before its slot comes;
    # a mark that could not be stored in time gives its slot up, so when the lock goes, the
    # waiting requests leave one slot apart, not together.
    path = tmp_path / "campaign.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    loop = asyncio.get_running_loop()
    limiter = Recording(RateLimit(10))
    outcomes = []
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=limiter
        ) as client:
            run = client.send_many(items(60), concurrency=32, journal=Journal(path, timeout=20))
            async with run:
                async for outcome in run:
                    outcomes.append(outcome)
                    if len(outcomes) == 10:
                        holder.execute("BEGIN IMMEDIATE")
                        loop.call_later(3.0, holder.execute, "ROLLBACK")
    holder.close()
    assert len(outcomes) == 60
    assert all(o.ok for o in outcomes)
    assert len(sandbox.account.processed) == 60  # each sent once
    assert len(limiter.marks) >= 60  # every mark was stored through the limiter, as its slot came
    assert max(ended - started for started, ended, _ in limiter.marks) >= 2.0  # the lock held
    # What the limiter decided: no second holds more than the rate and the burst of one, and
    # every request's mark was stored by its slot (within the 5 ms a wake-up may be late), so
    # it left at its slot, not together with the others when the lock went.
    assert most_in_one_second(limiter.kept) <= 11
    assert all(ended <= slot + 0.005 for _, ended, slot in limiter.marks)
