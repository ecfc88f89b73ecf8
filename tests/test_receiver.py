"""The webhook receiver acknowledges only what it has stored: a 200 means the callback is on
disk, a store that fails is a 503 that Gupshup answers by sending the callback again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import psycopg
import pytest

from gupshup_async import Event, Receiver, StatusUpdate
from gupshup_async.receiver import LogThrottle
from gupshup_async.stores import open_delivery_store
from tests.conftest import Records

SECRET = "hook-secret-receiver-1"
HEADERS = {"X-Hook-Secret": SECRET, "Content-Type": "application/json"}


def status_callback(campaign: str, n: int, status: str = "delivered") -> bytes:
    """A status callback as Gupshup posts it, for the n-th message of ``campaign``."""
    entry = {
        "id": f"wamid.test-{n}",
        "gs_id": f"gs-{n:06d}",
        "status": status,
        "timestamp": str(1_790_000_000 + n),
        "recipient_id": f"9170{n:08d}",
        "biz_opaque_callback_data": f"{campaign}/item-{n}",
    }
    value = {"messaging_product": "whatsapp", "statuses": [entry]}
    body = {"entry": [{"id": "waba", "changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(body).encode()


def campaign_of(records: Records) -> str:
    """The campaign id of the test's journal (made by opening it), on either engine."""

    async def opened() -> str:
        journal = records.journal()
        await journal.open()
        await journal.close()
        return journal.campaign

    with concurrent.futures.ThreadPoolExecutor(1) as thread:  # from sync and async tests alike
        return thread.submit(asyncio.run, opened()).result()


def stored_ids(records: Records) -> set[str]:
    if records.engine == "postgres":
        with psycopg.connect(records.where) as db:
            return {str(r[0]) for r in db.execute("SELECT gs_id FROM gupshup_deliveries")}
    db = sqlite3.connect(records.where)
    try:
        return {str(gs_id) for (gs_id,) in db.execute("SELECT gs_id FROM deliveries")}
    finally:
        db.close()


@contextlib.contextmanager
def write_lock_held(records: Records) -> Iterator[None]:
    """Another connection holds what the receiver must write, until the block ends."""
    if records.engine == "postgres":
        with psycopg.connect(records.where) as holder:
            holder.execute("LOCK TABLE gupshup_seen_events IN EXCLUSIVE MODE")
            yield
            holder.rollback()
        return
    holder = sqlite3.connect(records.where, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_failed_store_is_answered_503_marks_nothing_seen_and_is_stored_when_sent_again(
    records: Records,
) -> None:
    campaign = campaign_of(records)
    handled: list[Event] = []
    receiver = Receiver(
        SECRET,
        store=open_delivery_store(records.where, timeout=0.2),
        handlers=[handled.append],
    )
    body = status_callback(campaign, 1)
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        # Another connection holds the write lock past the store's timeout.
        with write_lock_held(records):
            refused = await http.post("/", content=body, headers=HEADERS)
        stored = await http.post("/", content=body, headers=HEADERS)
        repeat = await http.post("/", content=body, headers=HEADERS)
        await receiver.drain()
    await receiver.aclose()
    assert (refused.status_code, stored.status_code, repeat.status_code) == (503, 200, 200)
    assert receiver.stats["store_errors"] == 1
    assert receiver.stats["duplicates"] == 1  # the repeat, known by what is stored
    assert [type(e) for e in handled] == [StatusUpdate]  # once, after it was stored
    store = records.store()
    try:
        delivery = store.find("gs-000001")
        assert delivery is not None
        assert delivery.status == "delivered"
    finally:
        store.close()


async def test_handlers_run_after_the_event_is_stored(records: Records) -> None:
    campaign = campaign_of(records)
    found: list[str | None] = []
    reader = records.store()

    def handler(event: Event) -> None:
        delivery = reader.find("gs-000007")
        found.append(delivery.status if delivery is not None else None)

    receiver = Receiver(SECRET, store=records.where, handlers=[handler])
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        answer = await http.post("/", content=status_callback(campaign, 7), headers=HEADERS)
        await receiver.drain()
    await receiver.aclose()
    reader.close()
    assert answer.status_code == 200
    assert found == ["delivered"]


async def test_callbacks_that_arrive_together_are_stored_in_shared_commits(
    records: Records,
) -> None:
    campaign = campaign_of(records)
    receiver = Receiver(SECRET, store=records.where)
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        answers = await asyncio.gather(
            *(
                http.post("/", content=status_callback(campaign, n), headers=HEADERS)
                for n in range(200)
            )
        )
    await receiver.aclose()
    assert {a.status_code for a in answers} == {200}
    assert receiver.stats["events"] == 200
    assert records.report().by_status == {"delivered": 200}


SERVER = textwrap.dedent(
    """
    import sys, uvicorn
    from gupshup_async import Receiver

    receiver = Receiver(sys.argv[3], store=sys.argv[1])
    uvicorn.run(receiver, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the receiver exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the receiver did not start listening")


def test_five_thousand_callbacks_then_sigkill_every_one_answered_2xx_is_stored(
    tmp_path: Path, records: Records
) -> None:
    campaign = campaign_of(records)
    script = tmp_path / "receiver.py"
    script.write_text(SERVER)
    port = free_port()
    server = subprocess.Popen([sys.executable, str(script), records.where, str(port), SECRET])
    try:
        wait_listening(port, server)
        acknowledged: list[int] = []

        async def post_all() -> None:
            limits = httpx.Limits(max_connections=50)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
            ) as http:
                pending = iter(range(5000))

                answered = 0

                async def worker() -> None:
                    nonlocal answered
                    for n in pending:
                        answer = await http.post(
                            "/", content=status_callback(campaign, n), headers=HEADERS
                        )
                        if answer.status_code == 200:
                            acknowledged.append(n)
                        answered += 1
                        if answered == 5000:
                            os.kill(server.pid, signal.SIGKILL)  # the moment the last came

                await asyncio.gather(*(worker() for _ in range(50)))

        asyncio.run(post_all())
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert len(acknowledged) == 5000
    assert {f"gs-{n:06d}" for n in acknowledged} <= stored_ids(records)


def test_a_status_without_a_value_or_an_unknown_one_never_replaces_a_known_one(
    records: Records,
) -> None:
    tag = f"{campaign_of(records)}/item-1"
    store = records.store()
    try:
        for status in ("sent", "unknown", "being_typed"):
            update = StatusUpdate("wamid.1", status, "917000000001", 1, gs_id="gs-1")
            store.record([attrs.evolve(update, callback_data=tag)])
        delivery = store.find("gs-1")
        assert delivery is not None
        assert delivery.status == "sent"
    finally:
        store.close()
    assert records.report().by_status == {"sent": 1}


async def test_a_large_body_does_not_hold_up_a_small_callback_behind_it(tmp_path: Path) -> None:
    statuses = [{"id": str(n)} for n in range(70_000)]  # the most events 1 MiB can hold
    value = {"statuses": statuses}
    document = {"entry": [{"changes": [{"field": "messages", "value": value}]}]}
    large = json.dumps(document, separators=(",", ":")).encode()
    assert 1_000_000 < len(large) < 1024 * 1024
    small = json.dumps({"entry": [{"changes": [{"field": "messages", "value": {
        "statuses": [{"id": "wamid.small", "status": "read"}]}}]}]}).encode()  # fmt: skip
    receiver = Receiver(SECRET)
    answered: list[str] = []
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:

        async def post(name: str, body: bytes) -> int:
            answer = await http.post("/", content=body, headers=HEADERS)
            answered.append(name)
            return answer.status_code

        async def small_after_large_started() -> int:
            await asyncio.sleep(0)  # the large one is in the receiver first
            return await post("small", small)

        codes = await asyncio.gather(post("large", large), small_after_large_started())
    await receiver.aclose()
    assert codes == [200, 200]
    assert receiver.stats["events"] == 70_001
    # The large body is parsed (and stored) off the event loop, so the small callback that came
    # after it is answered first; parsed on the loop, it held every other callback for 1.3 to
    # 1.8 s, and the small one was answered after it.
    assert answered == ["small", "large"]


async def call(receiver: Receiver, chunks: list[bytes], *, then_wait: bool = False) -> int:
    """One POST through the ASGI interface, its body in ``chunks``; ``then_wait``: the client
    sends those and then nothing more, never finishing the body.
    """
    parts = list(chunks)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        if parts:
            chunk = parts.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(parts) or then_wait}
        await asyncio.Event().wait()  # a body that never ends
        raise AssertionError("unreachable")

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"x-hook-secret", SECRET.encode())],
    }
    await receiver(scope, receive, send)
    return statuses[0]


async def test_a_body_that_trickles_in_past_the_limit_is_cut_off_with_408() -> None:
    receiver = Receiver(SECRET, body_timeout=0.2)
    body = status_callback("c", 1)
    status = await asyncio.wait_for(call(receiver, [body[:10]], then_wait=True), 10)
    assert status == 408
    assert await call(receiver, [body[:10], body[10:]]) == 200  # a whole body still gets in
    await receiver.aclose()
    assert receiver.stats["events"] == 1


async def test_bytes_held_for_slow_handlers_are_bounded_and_freed_once_handled() -> None:
    release = asyncio.Event()
    handled: list[Event] = []

    async def slow(event: Event) -> None:
        await release.wait()
        handled.append(event)

    body = status_callback("c", 0)
    receiver = Receiver(SECRET, handlers=[slow], max_held_bytes=len(body) * 3)
    statuses = [await call(receiver, [status_callback("c", n)]) for n in range(5)]
    # Three callbacks' worth is held for the handler; the fourth is refused, not read whole,
    # and Gupshup sends it again later.
    assert statuses == [200, 200, 200, 503, 503]
    release.set()
    await receiver.drain()
    assert len(handled) == 3
    assert await call(receiver, [status_callback("c", 3)]) == 200  # room again
    await receiver.aclose()
    assert len(handled) == 4


async def test_a_body_declared_larger_than_the_limit_is_refused_before_it_is_read() -> None:
    receiver = Receiver(SECRET, max_body=100)
    statuses: list[int] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 50, "more_body": True}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    headers = [(b"x-hook-secret", SECRET.encode()), (b"content-length", b"5000000")]
    await receiver({"type": "http", "method": "POST", "headers": headers}, receive, send)
    await receiver.aclose()
    assert statuses == [413]
    assert reads == 0


async def test_a_failing_handler_logs_a_line_every_ten_seconds_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    receiver = Receiver(SECRET, handlers=[broken])
    with caplog.at_level(logging.ERROR, logger="gupshup_async.receiver"):
        for n in range(200):
            assert await call(receiver, [status_callback("c", n)]) == 200
        await receiver.drain()
    await receiver.aclose()
    assert receiver.stats["handler_errors"] == 200
    lines = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert len(lines) == 1


def test_log_throttle_lets_one_line_of_a_kind_through_then_says_how_many_it_left_out() -> None:
    throttle = LogThrottle(seconds=0.0)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "bad request", None, None)
    assert throttle.filter(record)
    slow = LogThrottle(seconds=3600)
    kept = [slow.filter(logging.LogRecord("x", 30, "f", 1, "bad", None, None)) for _ in range(5)]
    assert kept == [True, False, False, False, False]
    other = logging.LogRecord("x", 30, "f", 1, "another kind", None, None)
    assert slow.filter(other)  # each kind on its own
    now = [100.0]
    brief = LogThrottle(seconds=10, clock=lambda: now[0])
    records = [logging.LogRecord("x", 30, "f", 1, "bad", None, None) for _ in range(4)]
    assert [brief.filter(r) for r in records[:3]] == [True, False, False]
    now[0] += 9.9
    assert not brief.filter(logging.LogRecord("x", 30, "f", 1, "bad", None, None))
    now[0] += 0.1
    assert brief.filter(records[3])
    assert records[3].getMessage() == "bad (3 more like this left out of the log)"


async def test_statuses_of_messages_sent_outside_any_campaign_are_stored_and_findable(
    records: Records,
) -> None:
    # A plain client.send carries no campaign tag: its statuses are stored all the same, so a
    # reply to it finds it, and the campaign's report does not count it.
    campaign = campaign_of(records)
    plain = json.loads(status_callback("other", 1, "read"))
    del plain["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"]
    receiver = Receiver(SECRET, store=records.store())
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        answers = [
            await http.post("/", content=json.dumps(plain).encode(), headers=HEADERS),
            await http.post("/", content=status_callback(campaign, 2, "read"), headers=HEADERS),
        ]
    await receiver.aclose()
    assert [a.status_code for a in answers] == [200, 200]
    store = records.store()
    try:
        found = store.find("wamid.test-1")
        assert found is not None
        assert (found.gs_id, found.status, found.key) == ("gs-000001", "read", None)
    finally:
        store.close()
    report = records.report()
    assert report.by_status == {"read": 1}  # the campaign's own message only
