"""The same records on both engines: each test runs against an SQLite file and a PostgreSQL
database (a real server the tests start, `tests.postgres_server`): a campaign's journal, the
receiver's delivery store, the window store, the status source; resume, feedback, the run lock,
failure. What only a database does (shards, many hosts) is tested below them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gupshup_async import (
    AccountError,
    ButtonMessage,
    GupshupClient,
    Journal,
    JournalError,
    NotAttempted,
    OutsideWindow,
    Receiver,
    StatusUpdate,
    TextMessage,
    UnreachableRecipient,
    WindowPolicy,
)
from gupshup_async.sandbox import Sandbox
from gupshup_async.stores import (
    open_status_source,
)
from gupshup_async.stores.postgres import PostgresDeliveryStore, PostgresWindowStore
from tests.conftest import Records
from tests.postgres_server import PostgresServer
from tests.servers import under_uvicorn, until

SECRET = "hook-secret-backends-1"
NUMBERS = [f"+9171000{n:05d}" for n in range(24)]


def sandbox_client(sandbox: Sandbox, **options: Any) -> GupshupClient:
    return GupshupClient(
        sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None, **options
    )


def drop_connections(url: str) -> None:
    """The server ends every other connection to ``url``'s database, as a restart would."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def shipped(n: int) -> ButtonMessage:
    return ButtonMessage(f"Order {n} shipped. Rate us?", [("good", "Great")])


async def test_a_rerun_sends_nothing_twice_whatever_the_order(records: Records) -> None:
    items = [(to, shipped(n)) for n, to in enumerate(NUMBERS)]
    async with Sandbox() as sandbox:
        async with sandbox_client(sandbox) as client:
            first = [o async for o in client.send_many(items[:10], journal=records.journal())]
            again = [
                o async for o in client.send_many(list(reversed(items)), journal=records.journal())
            ]
        sent = [p.to for p in sandbox.account.processed]
    assert all(o.ok for o in first)
    assert all(o.ok for o in again)
    assert sorted(sent) == sorted(to.lstrip("+") for to in NUMBERS)  # each once
    assert sum(o.skipped for o in again) == 10


async def test_statuses_come_back_and_the_report_and_sources_see_them(records: Records) -> None:
    items = [(to, shipped(n)) for n, to in enumerate(NUMBERS[:12])]
    undeliverable = {NUMBERS[3].lstrip("+")}
    receiver = Receiver(SECRET, store=records.where)
    async with under_uvicorn(receiver, "/hooks") as hook:
        async with Sandbox(
            callback_url=hook,
            callback_headers={"X-Hook-Secret": SECRET},
            undeliverable=undeliverable,
            repeat_callbacks=True,
            reorder_callbacks=True,
            status_delay=0.002,
        ) as sandbox:
            async with sandbox_client(sandbox) as client:
                book = records.journal()
                outcomes = [o async for o in client.send_many(items, journal=book)]
            await until(lambda: receiver.stats["events"] >= 4 * 11 + 2)
            await receiver.drain()
            processed = list(sandbox.account.processed)
    assert all(o.ok for o in outcomes)
    store = records.store()
    try:
        for sent in processed:
            found = store.find(sent.message_id)
            assert found is not None
            assert found.key is not None
            assert found.status == ("failed" if sent.to in undeliverable else "read")
    finally:
        store.close()
    report = records.report()
    assert report.accepted == 12
    assert report.by_status == {"read": 11, "failed": 1}
    assert report.failed_by_code == {131026: 1}
    source = open_status_source(records.where)
    try:
        tags = [o.result.callback_data for o in outcomes if o.result is not None]
        seen = await source.seen([t for t in tags if t is not None])
    finally:
        source.close()
    assert len(seen) == 12


async def test_feedback_an_account_failure_stops_the_run_and_unreachable_are_skipped(
    records: Records,
) -> None:
    failed_before = StatusUpdate(
        "wamid.x1", "failed", NUMBERS[0].lstrip("+"), 1, gs_id="gs-x1", error_code=131026
    )
    # A receiver recorded earlier that the first number is not on WhatsApp.
    store = records.store()
    try:
        store.record_new([[failed_before]])
    finally:
        store.close()
    items = [(to, shipped(n)) for n, to in enumerate(NUMBERS[:6])]
    async with Sandbox() as sandbox:
        async with sandbox_client(sandbox) as client:
            outcomes = [o async for o in client.send_many(items, journal=records.journal())]
        sent = {p.to for p in sandbox.account.processed}
    assert isinstance(outcomes[0].error, UnreachableRecipient)
    assert NUMBERS[0].lstrip("+") not in sent
    assert len(sent) == 5
    # An account-level failure of this campaign's message stops its next run at once.
    book = records.journal()
    await book.open()
    tag = f"{book.campaign}/whatever"
    await book.close()
    locked = StatusUpdate(
        "wamid.x2", "failed", "919999999999", 2, gs_id="gs-x2", error_code=131031,
        callback_data=tag,
    )  # fmt: skip
    store = records.store()
    try:
        store.record_new([[locked]])
    finally:
        store.close()
    more = [(to, shipped(n)) for n, to in enumerate(NUMBERS[6:10])]
    async with Sandbox() as sandbox:
        async with sandbox_client(sandbox) as client:
            stopped = [o async for o in client.send_many(more, journal=records.journal())]
        assert sandbox.account.processed == []
    # Not attempted, for the account's sake: nothing journaled, so a later run sends them.
    assert [type(o.error) for o in stopped] == [NotAttempted] * 4
    causes = [o.error.cause for o in stopped if isinstance(o.error, NotAttempted)]
    assert all(isinstance(c, AccountError) and c.code == 131031 for c in causes)


async def test_one_run_per_campaign_the_second_is_refused_by_name(records: Records) -> None:
    first = records.journal()
    await first.open()
    try:
        second = records.journal()
        with pytest.raises(JournalError, match="in use"):
            await second.open()
    finally:
        await first.close()
    again = records.journal()
    await again.open()  # the lock went with the first run
    await again.close()


def test_a_lock_held_by_a_killed_process_is_released(records: Records) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, sys, time\n"
            "from gupshup_async import Journal\n"
            "async def main():\n"
            "    j = Journal(sys.argv[1], name='campaign')\n"
            "    await j.open()\n"
            "    print('open', flush=True)\n"
            "    time.sleep(600)\n"
            "asyncio.run(main())\n",
            records.where,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"

        async def refused() -> None:
            with pytest.raises(JournalError, match="in use"):
                await records.journal().open()

        asyncio.run(refused())
    finally:
        holder.kill()  # SIGKILL: no goodbye to the database, no unlock of the file
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()

    async def taken() -> None:
        for _ in range(100):  # the server notices the dead connection at once, or nearly
            book = records.journal()
            try:
                await book.open()
            except JournalError:
                await asyncio.sleep(0.1)
                continue
            await book.close()
            return
        raise AssertionError("the lock outlived its process")

    asyncio.run(taken())


async def test_windows_one_store_for_the_receiver_and_the_client(records: Records) -> None:
    windows = records.windows()
    try:
        to = NUMBERS[0]
        windows.user_wrote(to, 1_000.0)
        policy = WindowPolicy.refuse()
        async with Sandbox() as sandbox:
            async with sandbox_client(sandbox, windows=windows, window_policy=policy) as client:
                # A window opened long ago is closed now: refused, nothing sent.
                with pytest.raises(OutsideWindow):
                    await client.send(to, TextMessage("hello"))
                windows.user_wrote(to, time.time())
                await client.send(to, TextMessage("hello"))
            assert [p.to for p in sandbox.account.processed] == [to.lstrip("+")]
    finally:
        windows.close()  # type: ignore[attr-defined]


async def test_a_failing_store_answers_503_and_stores_it_when_sent_again(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    store = PostgresDeliveryStore(url)
    receiver = Receiver(SECRET, store=store)
    body = {
        "entry": [
            {
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "statuses": [
                                {
                                    "id": "wamid.z1",
                                    "gs_id": "gs-z1",
                                    "status": "delivered",
                                    "recipient_id": "917100000001",
                                    "timestamp": "1700000000",
                                }
                            ],
                        },
                    }
                ]
            }
        ],
        "gs_app_id": "app",
        "object": "whatsapp_business_account",
    }

    async with under_uvicorn(receiver, "/hooks") as hook:
        async with httpx.AsyncClient() as http:
            drop_connections(url)  # as a restart or a failover does
            headers = {"X-Hook-Secret": SECRET}
            first = await http.post(hook, json=body, headers=headers)
            second = await http.post(hook, json=body, headers=headers)
    # A dead connection is made again at once: the callback is stored, on a new one.
    assert (first.status_code, second.status_code) == (200, 200)
    check = PostgresDeliveryStore(url)
    try:
        found = check.find("gs-z1")
    finally:
        check.close()
    assert found is not None
    assert found.status == "delivered"
    # A user writes while the window store's connection is gone: stored on a new one.
    wrote = {
        "entry": [{"changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "messages": [{"from": "917100000002", "id": "wamid.in-1", "timestamp": "1700000001",
                          "type": "text", "text": {"body": "Hi"}}],
        }}]}],
    }  # fmt: skip
    windows = PostgresWindowStore(url)
    receiver = Receiver(SECRET, store=url, windows=windows)
    async with under_uvicorn(receiver, "/hooks") as hook:
        async with httpx.AsyncClient() as http:
            drop_connections(url)  # as a restart or a failover does
            headers = {"X-Hook-Secret": SECRET}
            answers = [(await http.post(hook, json=wrote, headers=headers)).status_code]
            answers.append((await http.post(hook, json=wrote, headers=headers)).status_code)
    assert answers == [200, 200]
    assert (await windows.window("917100000002")).last_inbound == 1700000001
    windows.close()


async def test_an_unreachable_database_stops_a_campaign_before_anything_is_sent(
    postgres_server: PostgresServer,
) -> None:
    from tests.redis_server import free_port

    url = f"postgresql://gupshup:s3cret-pass@127.0.0.1:{free_port()}/nowhere"
    async with Sandbox() as sandbox:
        async with sandbox_client(sandbox) as client:
            with pytest.raises(JournalError) as refused:
                async for _ in client.send_many(
                    [(NUMBERS[0], shipped(0))], journal=Journal(url, name="spring")
                ):
                    pass
        assert sandbox.account.processed == []
    assert "cannot connect" in str(refused.value)
    assert "s3cret-pass" not in str(refused.value)  # the password is never shown
    assert "***" in str(refused.value)


async def test_a_database_that_dies_mid_run_stops_it_with_a_clear_error(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    items = [(f"+9172000{n:05d}", shipped(n)) for n in range(400)]
    outcomes: list[object] = []

    async with Sandbox() as sandbox:
        async with sandbox_client(sandbox) as client:

            async def run() -> None:
                async for outcome in client.send_many(
                    items, concurrency=4, journal=Journal(url, name="spring")
                ):
                    outcomes.append(outcome)
                    if len(outcomes) == 50:
                        drop_connections(url)

            with pytest.raises(JournalError, match="cannot be written"):
                await run()
        sent = {p.to for p in sandbox.account.processed}
    # Whatever left was recorded before it left: the next run sends only the rest.
    recorded = Journal.sent_before(url, "spring")
    assert {to.lstrip("+") for to in recorded} >= sent
    assert len(sent) < len(items)


def test_a_database_of_a_later_schema_is_refused(postgres_server: PostgresServer) -> None:

    url = postgres_server.new_database()
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("CREATE TABLE gupshup_schema (version integer NOT NULL)")
        admin.execute("INSERT INTO gupshup_schema VALUES (99)")
    with pytest.raises(JournalError, match="schema 99"):
        PostgresDeliveryStore(url)


def test_a_journal_in_a_database_needs_the_campaigns_name(postgres_server: PostgresServer) -> None:
    with pytest.raises(ValueError, match="name"):
        Journal(postgres_server.url())
    with pytest.raises(ValueError, match="shard"):
        Journal("campaign.db", shard="0/2")


async def test_shards_run_at_once_and_share_one_report_but_not_a_shard(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    one, two = Journal(url, name="spring", shard="0/2"), Journal(url, name="spring", shard="1/2")
    await one.open()
    await two.open()
    try:
        assert one.campaign == two.campaign  # one campaign: one tag space, one report
        with pytest.raises(JournalError, match="in use"):
            await Journal(url, name="spring", shard="0/2").open()
        with pytest.raises(JournalError, match="in use"):
            await Journal(url, name="spring").open()  # the whole campaign beside its shards
        other = Journal(url, name="autumn")
        await other.open()  # another campaign is another lock
        assert other.campaign != one.campaign
        await other.close()
    finally:
        await one.close()
        await two.close()


# The command line, with a database ------------------------------------------------------------

COMMAND = [sys.executable, "-m", "gupshup_async"]


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120", **env},
        check=False,
    )


def test_the_command_line_says_in_one_line_when_the_database_cannot_be_reached(
    tmp_path: Path,
) -> None:
    from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN
    from tests.redis_server import free_port
    from tests.servers import sandbox_process

    nowhere = f"postgresql://gupshup:s3cret-pass@127.0.0.1:{free_port()}/nowhere"
    (tmp_path / "people.csv").write_text("phone\n+917100000001\n")
    (tmp_path / "m.json").write_text('{"type": "text", "text": {"body": "Hi"}}')
    with sandbox_process() as sandbox:
        sent = cli(
            "bulk", str(tmp_path / "people.csv"), "--message", str(tmp_path / "m.json"),
            "--journal", nowhere, "--base-url", sandbox, "--app-id", SANDBOX_APP_ID,
            GUPSHUP_APP_TOKEN=SANDBOX_TOKEN,
        )  # fmt: skip
        account = httpx.get(f"{sandbox}/sandbox/account", timeout=10).json()
    received = cli("receive", "--port", "0", GUPSHUP_HOOK_SECRET="x", GUPSHUP_JOURNAL=nowhere)
    for done in (sent, received):
        assert done.returncode == 2, done.stderr
        assert "cannot connect" in done.stderr
        assert "Traceback" not in done.stderr
        assert "s3cret-pass" not in done.stderr + done.stdout
    assert account["processed"] == 0  # nothing sent that was not recorded


def test_report_reads_a_campaign_from_the_database_and_says_what_is_missing(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    store = PostgresDeliveryStore(url)
    store.close()  # the tables, and no campaign yet
    without_name = cli("report", url)
    assert without_name.returncode == 2
    assert "--campaign" in without_name.stderr
    unknown = cli("report", "--campaign", "nope", GUPSHUP_JOURNAL=url)
    assert unknown.returncode == 2
    assert "no campaign named 'nope'" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    async def campaign() -> None:
        async with Sandbox() as sandbox:
            async with sandbox_client(sandbox) as client:
                items = [(to, shipped(n)) for n, to in enumerate(NUMBERS[:3])]
                [o async for o in client.send_many(items, journal=Journal(url, name="nope"))]

    asyncio.run(campaign())
    found = cli("report", "--campaign", "nope", "--json", GUPSHUP_JOURNAL=url)
    assert found.returncode == 0, found.stderr
    assert '"accepted": 3' in found.stdout


async def test_a_resumed_shard_holds_its_own_items_and_skips_them(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    items = [(to, shipped(n)) for n, to in enumerate(NUMBERS)]
    async with Sandbox() as sandbox:
        async with sandbox_client(sandbox) as client:
            for i in (0, 1):
                book = Journal(url, name="spring", shard=f"{i}/2")
                [o async for o in client.send_many(items, journal=book, shard=(i, 2))]
            counts = []
            for i in (0, 1):
                book = Journal(url, name="spring", shard=f"{i}/2")
                again = [o async for o in client.send_many(items, journal=book, shard=(i, 2))]
                assert all(o.skipped for o in again)  # resumed: everything was sent
                counts.append(len(again))
                await book.open()
                assert book.states() == {"sent": len(again)}  # its own share, not all
                await book.close()
        assert len(sandbox.account.processed) == len(NUMBERS)  # each once, over both shards
    assert sum(counts) == len(NUMBERS)
    assert all(counts)


async def test_a_database_server_that_dies_and_comes_back(tmp_path: Path) -> None:
    """The server itself stops (as a crash would) while a receiver serves: callbacks get 503
    and nothing is lost; once it is back, the same callbacks are stored (Gupshup redelivers).
    """
    from tests.postgres_server import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        url = server.new_database()
        receiver = Receiver(SECRET, store=url)

        def delivered(n: int) -> dict[str, object]:
            return {"entry": [{"changes": [{"field": "messages", "value": {"statuses": [{
                "id": f"wamid.d{n}", "gs_id": f"gs-d{n}", "status": "delivered",
                "timestamp": "1700000000", "recipient_id": f"91710000{n:04d}",
            }]}}]}]}  # fmt: skip

        headers = {"X-Hook-Secret": SECRET}
        async with under_uvicorn(receiver, "/hooks") as hook:
            async with httpx.AsyncClient(timeout=60) as http:
                before = (await http.post(hook, json=delivered(1), headers=headers)).status_code
                await asyncio.to_thread(server.halt)
                during = [
                    (await http.post(hook, json=delivered(n), headers=headers)).status_code
                    for n in (2, 3)
                ]
                await asyncio.to_thread(server.start)
                after = [
                    (await http.post(hook, json=delivered(n), headers=headers)).status_code
                    for n in (2, 3)
                ]
        assert (before, during, after) == (200, [503, 503], [200, 200])
        assert receiver.stats["store_errors"] == 2
        check = PostgresDeliveryStore(url)
        try:
            assert [check.find(f"gs-d{n}") is not None for n in (1, 2, 3)] == [True] * 3
        finally:
            check.close()
    finally:
        server.stop()
