"""The whole loop on one machine: send through the sandbox, receive its status callbacks and a
user's button tap at a local receiver, match the reply to the message that carried the buttons.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from gupshup_async import (
    ButtonMessage,
    ButtonReply,
    GupshupClient,
    ListMessage,
    ListReply,
    StatusUpdate,
    parse_events,
)
from gupshup_async.sandbox import Sandbox

SHARED_SECRET = "hook-secret-5b7e"


class Receiver:
    """A minimal webhook receiver: acknowledges at once, keeps the bodies and headers."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.rejected = 0
        self.arrived = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if headers.get("x-hook-secret") == SHARED_SECRET:
                    self.bodies.append(body)
                    status = b"200 OK"
                else:
                    self.rejected += 1
                    status = b"401 Unauthorized"
                self.arrived.set()
                writer.write(b"HTTP/1.1 %s\r\ncontent-length: 0\r\n\r\n" % status)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def events(self) -> list[object]:
        return [event for body in self.bodies for event in parse_events(body)]

    async def wait_until(self, done: Callable[[], bool]) -> None:
        while not done():
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout=10)

    async def wait_for(self, count: int) -> None:
        await self.wait_until(lambda: len(self.events()) >= count)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver()
    server = await asyncio.start_server(hook.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield hook, f"http://127.0.0.1:{port}/hooks/gupshup"


async def test_statuses_and_a_tap_come_back_and_match_the_sent_message(
    receiver: tuple[Receiver, str],
) -> None:
    hook, url = receiver
    async with Sandbox(callback_url=url, callback_headers={"X-Hook-Secret": SHARED_SECRET}) as sb:
        async with GupshupClient(sb.app_id, sb.token, base_url=sb.base_url) as client:
            result = await client.send("+91 98765 43210", ButtonMessage("Book?", [("y", "Yes")]))
            await hook.wait_for(4)
            await sb.tap(result.message_id, "y", "Yes")
            await hook.wait_for(5)
    [sent] = sb.account.processed
    statuses = [e for e in hook.events() if isinstance(e, StatusUpdate)]
    assert [s.status for s in statuses] == ["enqueued", "sent", "delivered", "read"]
    # Gupshup's id model: statuses name Meta's id, and carry the send's id as gs_id.
    assert {s.message_id for s in statuses} == {sent.wamid}
    assert sent.wamid.startswith("wamid.")
    assert {s.gs_id for s in statuses} == {result.message_id}
    [tap] = [e for e in hook.events() if isinstance(e, ButtonReply)]
    # A reply names Meta's id: tied to the send only through the statuses' gs_id pairing.
    assert (tap.id, tap.title, tap.context_id) == ("y", "Yes", sent.wamid)
    assert tap.sender == "919876543210"
    assert hook.rejected == 0


async def test_undeliverable_numbers_get_a_failed_status_and_list_picks_come_back(
    receiver: tuple[Receiver, str],
) -> None:
    hook, url = receiver
    async with Sandbox(
        callback_url=url,
        callback_headers={"X-Hook-Secret": SHARED_SECRET},
        undeliverable={"919876500000"},
    ) as sb:
        async with GupshupClient(sb.app_id, sb.token, base_url=sb.base_url) as client:
            menu = ListMessage("Pick", "Menu", [("a", "Apple", "Crisp")])
            result = await client.send("+91 98765 00000", menu)
            await hook.wait_for(2)
            await sb.tap(result.message_id, "a", "Apple", kind="list_reply", description="Crisp")
            await hook.wait_for(3)
    failed = [e for e in hook.events() if isinstance(e, StatusUpdate) and e.status == "failed"]
    assert failed[0].error_code == 131026
    [pick] = [e for e in hook.events() if isinstance(e, ListReply)]
    [sent] = sb.account.processed
    assert (pick.id, pick.description, pick.context_id) == ("a", "Crisp", sent.wamid)
    assert failed[0].gs_id == result.message_id


async def test_a_receiver_refuses_callbacks_without_the_shared_secret(
    receiver: tuple[Receiver, str],
) -> None:
    hook, url = receiver
    async with Sandbox(callback_url=url, callback_headers={"X-Hook-Secret": "wrong"}) as sb:
        async with GupshupClient(sb.app_id, sb.token, base_url=sb.base_url) as client:
            await client.send("+91 98765 43210", ButtonMessage("Hi", ["OK"]))
            await hook.wait_until(lambda: hook.rejected >= 3)
    assert hook.bodies == []


async def test_outside_the_24_hour_window_a_send_is_accepted_then_fails_with_131047(
    receiver: tuple[Receiver, str],
) -> None:
    hook, url = receiver
    async with Sandbox(
        callback_url=url,
        callback_headers={"X-Hook-Secret": SHARED_SECRET},
        outside_window={"919876500001"},
    ) as sb:
        async with GupshupClient(sb.app_id, sb.token, base_url=sb.base_url) as client:
            result = await client.send("+91 98765 00001", ButtonMessage("Hi", ["OK"]))
            await hook.wait_for(2)
    assert result.message_id  # accepted: the failure comes later, as a status
    [failed] = [e for e in hook.events() if isinstance(e, StatusUpdate) and e.status == "failed"]
    assert failed.error_code == 131047
    assert failed.error_title is not None
    assert "24 hours" in failed.error_title


async def test_callbacks_can_come_twice_and_out_of_order(receiver: tuple[Receiver, str]) -> None:
    hook, url = receiver
    async with Sandbox(
        callback_url=url,
        callback_headers={"X-Hook-Secret": SHARED_SECRET},
        repeat_callbacks=True,
        reorder_callbacks=True,
    ) as sb:
        async with GupshupClient(sb.app_id, sb.token, base_url=sb.base_url) as client:
            await client.send("+91 98765 43210", ButtonMessage("Hi", ["OK"]))
            await hook.wait_for(8)
    statuses = [e.status for e in hook.events() if isinstance(e, StatusUpdate)]
    assert statuses == [
        "read",
        "read",
        "delivered",
        "delivered",
        "sent",
        "sent",
        "enqueued",
        "enqueued",
    ]
    assert len({e.identity for e in hook.events()}) == 4  # identity tells the repeats apart
