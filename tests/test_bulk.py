"""send_many: order per recipient, exactly one outcome per item, early stop, cancellation,
the journal and resuming, including after a SIGKILL in the middle of a campaign.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import respx

from gupshup_async import (
    AuthenticationError,
    ButtonMessage,
    EarlierOutcome,
    GupshupClient,
    Journal,
    Outcome,
    Recipient,
    RetryPolicy,
    ValidationError,
)
from gupshup_async.errors import (
    AccountError,
    APIError,
    LimiterUnavailable,
    NotAttempted,
    StopRequested,
)
from gupshup_async.ratelimit import Ready
from gupshup_async.sandbox import Faults, Sandbox
from tests.servers import sandbox_process

BASE = "https://partner.example.test"
URL = f"{BASE}/partner/app/app-1/v3/message"
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=20)


def message(n: int) -> ButtonMessage:
    return ButtonMessage(f"message {n}", ["OK"])


def client_for(sandbox: Sandbox, **options: object) -> GupshupClient:
    options.setdefault("rate_limit", None)
    options.setdefault("retry", FAST)
    return GupshupClient(sandbox.app_id, sandbox.token, base_url=sandbox.base_url, **options)  # type: ignore[arg-type]


async def collect(run: AsyncIterator[Outcome]) -> list[Outcome]:
    return [outcome async for outcome in run]


async def test_one_outcome_per_item_and_order_per_recipient() -> None:
    # 600 messages to 50 recipients, interleaved: each recipient gets its 12 in order.
    items = [(f"+9170000{n % 50:05d}", message(n)) for n in range(600)]
    async with Sandbox(faults=Faults.safe(0.2), seed=5) as sandbox, client_for(sandbox) as client:
        outcomes = await collect(client.send_many(iter(items), concurrency=20))
    assert len(outcomes) == 600
    assert len({o.key for o in outcomes}) == 600  # each item known by recipient and message
    assert all(o.ok for o in outcomes)
    for to, processed in sandbox.account.by_recipient().items():
        numbers = [int(p.body_text.split()[1]) for p in processed]  # type: ignore[union-attr]
        assert numbers == sorted(numbers), to
        assert len(numbers) == 12  # exactly once each


async def test_async_iterables_and_recipient_keys() -> None:
    async def items() -> AsyncIterator[tuple[Recipient, ButtonMessage]]:
        for n in range(30):
            await asyncio.sleep(0)
            yield Recipient(f"+9170000{n:05d}", key=f"customer-{n}"), message(n)

    async with Sandbox() as sandbox, client_for(sandbox) as client:
        outcomes = await collect(client.send_many(items(), concurrency=8))
    assert sorted(o.key for o in outcomes) == sorted(f"customer-{n}" for n in range(30))
    assert {o.result.message_id for o in outcomes if o.result} == {
        p.message_id for p in sandbox.account.processed
    }


async def test_bad_items_become_failed_outcomes_without_requests() -> None:
    bad_row = ValidationError.at("interactive.body.text", "is required")
    items = [
        ("+91 98765 43210", message(0)),
        ("not a number", message(1)),
        ("+91 98765 43211", bad_row),
        ("+91 98765 43212", "not a message"),
        "not even a pair",
    ]
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        outcomes = await collect(client.send_many(items))  # type: ignore[arg-type]
    assert len(outcomes) == 5
    failed = {o.key: o.error for o in outcomes if not o.ok}
    assert set(failed) == {"item-2", "item-3", "item-4", "item-5"}
    assert all(isinstance(e, ValidationError) for e in failed.values())
    assert failed["item-3"] is bad_row
    assert len(sandbox.account.processed) == 1


async def test_a_fatal_error_stops_sending() -> None:
    items = [(f"+9170000{n:05d}", message(n)) for n in range(500)]
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, "wrong-token-000", base_url=sandbox.base_url, rate_limit=None
        ) as client:
            outcomes = await collect(client.send_many(items, concurrency=10))
    assert len(outcomes) == 500
    tried = [o for o in outcomes if isinstance(o.error, AuthenticationError)]
    not_tried = [o for o in outcomes if isinstance(o.error, NotAttempted)]
    assert len(tried) + len(not_tried) == 500
    assert len(tried) <= 10  # the requests already under way when the first 401 came
    assert all(o.error.cause is tried[0].error for o in not_tried)  # type: ignore[union-attr]
    # Only the requests already in flight when the first 401 came back were made.
    assert sum(sandbox.account.answers.values()) <= 10


async def test_one_slow_recipient_does_not_hold_up_the_others() -> None:
    slow = "919876500000"
    loop = asyncio.get_running_loop()
    finished: dict[str, float] = {}

    async def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["to"] == slow:
            await asyncio.sleep(0.05)
        return httpx.Response(200, json={"messages": [{"id": "x"}], "contacts": []})

    items = [("+91 98765 00000", message(n)) for n in range(20)]
    items += [(f"+9170000{n:05d}", message(n)) for n in range(40)]
    with respx.mock(base_url=BASE, using="httpx") as api:
        api.post(URL).mock(side_effect=answer)
        async with GupshupClient("app-1", "token-1234", base_url=BASE, rate_limit=None) as client:
            async for outcome in client.send_many(items, concurrency=4):
                finished[outcome.to] = loop.time()
    others = [t for to, t in finished.items() if to != slow]
    assert max(others) < finished[slow]  # the other 40 finished while the slow one crawled


async def test_consumer_stopping_early_stops_the_workers() -> None:
    items = ((f"+9170{n:08d}", message(n)) for n in range(100_000))
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        async with client.send_many(items, concurrency=16) as run:
            async for _outcome in run:
                if run.stats.done >= 50:
                    break
        before = len(sandbox.account.processed)
        await asyncio.sleep(0.2)
        assert len(sandbox.account.processed) == before  # nothing more was sent
    # Consumed, plus at most the outcome queue (2 x concurrency) and one request per worker.
    assert 50 <= before <= 50 + 2 * 16 + 16
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("gupshup-bulk")]
    assert tasks == []


async def test_cancelling_the_consuming_task_leaves_no_tasks_behind(tmp_path: Path) -> None:
    items = ((f"+9170{n:08d}", message(n)) for n in range(100_000))
    async with (
        Sandbox(faults=Faults(slow=1.0, slow_seconds=30)) as sandbox,
        client_for(sandbox) as client,
    ):

        async def consume() -> None:
            async with client.send_many(items, concurrency=8, journal=tmp_path / "j.db") as run:
                async for _ in run:
                    pass

        task = asyncio.create_task(consume())
        # Polling the sandbox's account: it has no event to wait on.
        while len(sandbox.account.processed) < 8:  # noqa: ASYNC110  (every worker in flight)
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("gupshup")] == []
    journal = Journal(tmp_path / "j.db")
    await journal.open()
    assert journal.states() == {"ambiguous": 8}  # the eight requests in flight
    await journal.close()


async def test_resume_skips_what_was_sent_and_reports_what_failed(tmp_path: Path) -> None:
    path = tmp_path / "campaign.db"
    items = [(f"+9170000{n:05d}", message(n)) for n in range(40)]
    async with Sandbox(faults=Faults(unavailable=0.3), seed=2) as sandbox:
        async with client_for(sandbox, retry=RetryPolicy(max_attempts=1)) as client:
            first = await collect(client.send_many(items, journal=path))
            failed_first = {o.key for o in first if not o.ok}
            assert failed_first
            again = await collect(client.send_many(items, journal=path))
            assert all(o.skipped for o in again)
            assert {o.key for o in again if not o.ok} == failed_first
            assert all(isinstance(o.error, EarlierOutcome) for o in again if not o.ok)
            retried = await collect(
                client.send_many(items, journal=Journal(path, retry_failed=True))
            )
    resent = {o.key for o in retried if not o.skipped}
    assert resent == failed_first
    processed_once = sandbox.account.by_recipient()
    assert all(len(v) == 1 for v in processed_once.values())


CAMPAIGN = textwrap.dedent(
    """
    import asyncio, sys
    from gupshup_async import ButtonMessage, GupshupClient, Journal, RetryPolicy
    from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN

    async def main(base_url, journal, total, resend):
        items = ((f"+9170{n:08d}", ButtonMessage(f"message {n}", ["OK"])) for n in range(total))
        retry = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=20)
        async with GupshupClient(SANDBOX_APP_ID, SANDBOX_TOKEN, base_url=base_url,
                                 rate_limit=None, retry=retry) as client:
            journal = Journal(journal, resend_ambiguous=resend)
            async for outcome in client.send_many(items, concurrency=16, journal=journal):
                error = outcome.error
                state = "ok" if error is None else ("ambiguous" if error.ambiguous else "failed")
                print(outcome.to, state, flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "yes"))
    """
)


@pytest.fixture(name="sandbox_process")
def sandbox_process_fixture() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


@pytest.mark.parametrize("resend", ["no", "yes"])
def test_a_campaign_killed_mid_run_resumes_without_duplicates(
    sandbox_process: str, tmp_path: Path, resend: str
) -> None:
    script = tmp_path / "campaign.py"
    script.write_text(CAMPAIGN)
    journal = tmp_path / "campaign.db"
    total = 3000
    argv = [sys.executable, str(script), sandbox_process, str(journal), str(total)]
    runner = subprocess.Popen([*argv, "no"], stdout=subprocess.PIPE, text=True)
    assert runner.stdout is not None
    for _ in range(400):  # let it get well under way
        runner.stdout.readline()
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=10)
    runner.stdout.close()
    resumed = subprocess.run(
        [*argv, resend], capture_output=True, text=True, timeout=300, check=True
    )
    states = dict(line.split() for line in resumed.stdout.splitlines())
    assert len(states) == total  # one outcome per item, again
    account = httpx.get(f"{sandbox_process}/sandbox/account", timeout=10).json()
    counts = {to: len(items) for to, items in account["by_recipient"].items()}
    numbers = [f"9170{n:08d}" for n in range(total)]
    ambiguous = {to for to, state in states.items() if state == "ambiguous"}
    assert "failed" not in states.values()
    assert len(ambiguous) <= 16  # at most the requests in flight at the kill
    twice = [to for to, n in counts.items() if n > 1]
    if resend == "no":
        # In flight at the kill: reported ambiguous and not sent again; nothing else missed.
        assert twice == []
        assert set(counts) | ambiguous == set(numbers)
    else:
        assert set(counts) == set(numbers)  # none missed
        assert max(counts.values()) <= 2
        assert len(twice) <= 16


async def test_the_journal_holds_every_final_state_when_the_run_ends(tmp_path: Path) -> None:
    # A batch still queued for the writer thread when the run closed used to be dropped.
    async with Sandbox(faults=Faults(unavailable=0.3), seed=2) as sandbox:
        async with client_for(sandbox, retry=RetryPolicy(max_attempts=1)) as client:
            for trial in range(12):
                path = tmp_path / f"run-{trial}.db"
                items = [(f"+9170000{n:05d}", message(n)) for n in range(40)]
                outcomes = await collect(client.send_many(items, journal=path))
                with sqlite3.connect(path) as db:
                    states = dict(db.execute("SELECT key, state FROM items").fetchall())
                assert states == {o.key: "sent" if o.ok else "failed" for o in outcomes}
                assert all(o.key.startswith(o.to) for o in outcomes)


def _meta_refusal(code: int) -> httpx.Response:
    return httpx.Response(403, json={"error": {"code": code, "message": "refused"}})


async def test_a_403_for_one_recipient_fails_that_recipient_only() -> None:
    restricted = "917000000007"

    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["to"] == restricted:
            return _meta_refusal(130497)  # country restricted: this user only
        return httpx.Response(200, json={"messages": [{"id": "gs-1"}]})

    items = [(f"+9170000000{n:02d}", message(n)) for n in range(40)]
    with respx.mock(base_url=BASE, using="httpx") as api:
        api.post(URL).mock(side_effect=answer)
        async with GupshupClient("app-1", "token-1234", base_url=BASE, rate_limit=None) as client:
            outcomes = await collect(client.send_many(items, concurrency=4))
    failed = [o for o in outcomes if not o.ok]
    assert [o.to for o in failed] == [restricted]
    assert isinstance(failed[0].error, APIError)
    assert failed[0].error.per_recipient
    assert sum(o.ok for o in outcomes) == 39


async def test_an_account_level_403_stops_the_campaign_and_says_why() -> None:
    items = [(f"+9170000000{n:02d}", message(n)) for n in range(40)]
    with respx.mock(base_url=BASE, using="httpx") as api:
        route = api.post(URL).mock(return_value=_meta_refusal(368))  # blocked for policy
        async with GupshupClient("app-1", "token-1234", base_url=BASE, rate_limit=None) as client:
            outcomes = await collect(client.send_many(items, concurrency=4))
    refused = [o for o in outcomes if isinstance(o.error, AccountError)]
    assert 1 <= len(refused) <= 4
    assert all(isinstance(o.error, NotAttempted) for o in outcomes if o not in refused)
    assert route.call_count == len(refused)  # nothing more was sent
    assert "temporarily blocked" in refused[0].error.meaning.meaning  # type: ignore[union-attr]


class FailingFirst:
    """A limiter that is unreachable for its first ``failures`` acquires, then lets all go."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def acquire(self, recipient: str, ready: Ready | None = None) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise LimiterUnavailable("the shared rate limiter (Redis) did not answer")
        if ready is not None:
            await ready()

    def succeeded(self) -> None:
        pass

    def rate_limited(self, wait: float) -> None:
        pass

    def recipient_limited(self, recipient: str, wait: float) -> None:
        pass


async def test_an_unreachable_limiter_records_no_item_as_failed_and_the_rerun_sends_all(
    tmp_path: Path,
) -> None:
    items = [(f"+9170000{n:05d}", message(n)) for n in range(40)]
    journal = tmp_path / "campaign.db"
    async with Sandbox() as sandbox:
        async with client_for(sandbox, rate_limit=FailingFirst(8)) as client:
            first = await collect(client.send_many(items, concurrency=8, journal=journal))
        assert all(o.attempts == 0 for o in first if not o.ok)
        assert any(isinstance(o.error, LimiterUnavailable) for o in first)
        with sqlite3.connect(journal) as db:
            states = dict(db.execute("SELECT state, COUNT(*) FROM items GROUP BY state"))
        assert "failed" not in states  # nothing was sent for them: not their failure
        async with client_for(sandbox) as client:
            second = await collect(client.send_many(items, concurrency=8, journal=journal))
        sent_now = [o for o in second if o.ok and not o.skipped]
        assert len(sent_now) == sum(not o.ok for o in first)
        assert all(o.ok for o in second)
        assert sandbox.account.by_recipient().keys() == {to.lstrip("+") for to, _ in items}
        assert all(len(v) == 1 for v in sandbox.account.by_recipient().values())


async def test_a_bare_break_starts_no_new_send() -> None:
    # No ``async with`` around the run: the consumer simply stops pulling. Only the items
    # already started (at most ``concurrency``) may still go out; none is started after.
    items = [(f"+9170000{n:05d}", message(n)) for n in range(500)]
    async with Sandbox(faults=Faults(slow=1.0, slow_seconds=0.01)) as sandbox:
        async with client_for(sandbox) as client:
            run = client.send_many(items, concurrency=16)
            taken = 0
            async for _ in run:
                taken += 1
                if taken == 50:
                    break
            at_break = len(sandbox.account.processed)
            await asyncio.sleep(0.5)  # what the workers would send meanwhile, if they could
            after = len(sandbox.account.processed)
            await run.aclose()
    assert 50 <= at_break <= 50 + 16
    assert after <= 50 + 16  # only what had started before the break


async def test_stop_starts_nothing_new_and_lets_the_requests_on_the_wire_finish(
    tmp_path: Path,
) -> None:
    items = [(f"+9170000{n:05d}", message(n)) for n in range(300)]
    journal = tmp_path / "campaign.db"
    async with Sandbox(faults=Faults(slow=1.0, slow_seconds=0.02)) as sandbox:
        async with client_for(sandbox) as client:
            outcomes = []
            async with client.send_many(items, concurrency=16, journal=journal) as run:
                async for outcome in run:
                    outcomes.append(outcome)
                    if len(outcomes) == 30:
                        run.stop()
    sent = [o for o in outcomes if o.ok]
    stopped = [o for o in outcomes if isinstance(o.error, NotAttempted)]
    assert len(outcomes) == 300  # one outcome per item all the same
    assert len(sent) + len(stopped) == 300  # every request on the wire got its answer
    assert all(isinstance(o.error.cause, StopRequested) for o in stopped)  # type: ignore[union-attr]
    assert len(sandbox.account.processed) == len(sent) <= 30 + 16
    with sqlite3.connect(journal) as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM items GROUP BY state"))
    assert states == {"sent": len(sent)}  # nothing ambiguous, the rest unrecorded: sent later
