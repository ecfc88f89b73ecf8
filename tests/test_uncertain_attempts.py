"""Uncertain attempts settled by statuses: an attempt whose answer never came waits for a status
naming it before it is retried or given up; tags per attempt make a duplicate known; a status
source that knows nothing leaves behaviour as without one.

These run against respx with the waits in virtual time, so the decisions are exact: which
requests left, what each carried, what the outcome says.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
import respx

from gupshup_async import (
    ButtonMessage,
    DeliveryStore,
    GupshupClient,
    Journal,
    MemoryStatuses,
    Recipient,
    RetryPolicy,
    Seen,
    ServerError,
    StatusUpdate,
    Tag,
    TransportError,
)

APP = "app-uncertain"
TOKEN = "sk_test_uncertain_0123456789"
BASE = "https://partner.example.test"
URL = f"{BASE}/partner/app/{APP}/v3/message"
MESSAGE = ButtonMessage("Your table is ready. Coming?", [("yes", "On my way")])

pytestmark = pytest.mark.virtual_time


def ok(message_id: str) -> httpx.Response:
    return httpx.Response(200, json={"messages": [{"id": message_id}]})


def tag_of(request: httpx.Request) -> str:
    return str(json.loads(request.content)["biz_opaque_callback_data"])


class Statuses:
    """A status source whose knowledge the test decides, and that counts the questions."""

    def __init__(self, knows: Callable[[str], bool] = lambda tag: False) -> None:
        self.knows = knows
        self.asked: list[list[str]] = []

    async def seen(self, tags: Sequence[str]) -> list[Seen]:
        self.asked.append(list(tags))
        return [
            Seen(t, f"gs-{t}", f"wamid.{t}", "919876543210", "sent") for t in tags if self.knows(t)
        ]


def client(statuses: object | None, **retry: object) -> GupshupClient:
    return GupshupClient(
        APP,
        TOKEN,
        base_url=BASE,
        rate_limit=None,
        retry=RetryPolicy(initial_delay=0.01, **retry),  # type: ignore[arg-type]
        statuses=statuses,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("fault", ["500", "502", "504", "reset", "read timeout"])
async def test_a_status_for_the_unanswered_attempt_makes_it_sent_with_no_retry(fault: str) -> None:
    answers = {
        "500": httpx.Response(500),
        "502": httpx.Response(502),
        "504": httpx.Response(504),
    }
    first_tag: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        first_tag.append(tag_of(request))
        if fault == "reset":
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        if fault == "read timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        return answers[fault]

    source = Statuses(lambda tag: bool(first_tag) and tag == first_tag[0])
    with respx.mock(assert_all_called=False, using="httpx") as mock:
        route = mock.post(URL).mock(side_effect=answer)
        async with client(source) as sender:
            result = await sender.send("+91 98765 43210", MESSAGE)
    assert route.call_count == 1  # the status said it went: no second request
    assert result.confirmed
    assert (result.attempts, result.ambiguous_attempts, result.duplicates) == (1, 1, 0)
    assert result.message_id == f"gs-{first_tag[0]}"
    assert result.wamid == f"wamid.{first_tag[0]}"
    assert result.callback_data == first_tag[0]
    assert Tag.parse(first_tag[0]) is not None


async def test_without_a_status_source_the_same_fault_is_retried_as_before() -> None:
    with respx.mock(using="httpx") as mock:
        route = mock.post(URL).mock(side_effect=[httpx.Response(500), ok("gs-2")])
        async with client(None) as sender:
            result = await sender.send("+91 98765 43210", MESSAGE)
    assert route.call_count == 2
    assert not result.confirmed
    assert result.ambiguous_attempts == 1
    assert result.callback_data is None
    # Untagged, as before: the request carries no callback data of the library's.
    assert "biz_opaque_callback_data" not in json.loads(route.calls[0].request.content)


async def test_no_status_within_confirm_within_then_the_policy_decides() -> None:
    source = Statuses()
    with respx.mock(using="httpx") as mock:
        route = mock.post(URL).mock(side_effect=[httpx.Response(500), ok("gs-2")])
        async with client(source, confirm_within=3.0) as sender:
            result = await sender.send("+91 98765 43210", MESSAGE)
        tags = [tag_of(call.request) for call in route.calls]
    assert route.call_count == 2  # retried (at least once, the default)
    assert not result.confirmed
    assert result.duplicates == 0
    # One tag per attempt: attempt 1 as campaigns always tagged, attempt 2 numbered.
    first, second = (Tag.parse(t) for t in tags)
    assert first is not None
    assert second is not None
    assert (first.campaign, first.key, first.attempt) == (second.campaign, second.key, 1)
    assert second.attempt == 2
    assert result.callback_data == tags[1]
    # The source was polled for the first attempt's tag, then asked once more about it as the
    # send ended (a duplicate?).
    assert all(asked == [tags[0]] for asked in source.asked)
    assert len(source.asked) >= 2


async def test_at_most_once_with_no_status_is_given_up_unconfirmed() -> None:
    source = Statuses()
    with respx.mock(using="httpx") as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(504))
        async with client(source, retry_ambiguous=False) as sender:
            with pytest.raises(ServerError) as raised:
                await sender.send("+91 98765 43210", MESSAGE)
    assert route.call_count == 1
    assert raised.value.unconfirmed
    assert (raised.value.attempts, raised.value.ambiguous_attempts) == (1, 1)


async def test_a_fault_that_sent_nothing_is_retried_without_waiting_for_a_status() -> None:
    source = Statuses()
    with respx.mock(using="httpx") as mock:
        route = mock.post(URL).mock(side_effect=[httpx.Response(503), ok("gs-2")])
        async with client(source) as sender:
            result = await sender.send("+91 98765 43210", MESSAGE)
    assert route.call_count == 2
    assert source.asked == []  # a 503 was not processed: nothing to settle
    assert not result.confirmed


async def test_a_duplicate_shown_by_the_first_attempts_late_status_is_counted() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(tag_of(request))
        return httpx.Response(500) if len(calls) == 1 else ok("gs-second")

    # The first attempt's status comes only once the retry has gone: both reached WhatsApp.
    source = Statuses(lambda tag: len(calls) >= 2 and tag == calls[0])
    with respx.mock(using="httpx") as mock:
        mock.post(URL).mock(side_effect=answer)
        async with client(source, confirm_within=1.0) as sender:
            result = await sender.send("+91 98765 43210", MESSAGE)
    assert result.message_id == "gs-second"
    assert result.duplicates == 1  # known, not guessed


async def test_callers_own_callback_data_is_kept_exactly_and_not_confirmable() -> None:
    source = Statuses(lambda tag: True)
    with respx.mock(using="httpx") as mock:
        route = mock.post(URL).mock(side_effect=[httpx.Response(500), ok("gs-2")])
        async with client(source) as sender:
            result = await sender.send("+91 98765 43210", MESSAGE, callback_data="order-77")
    assert [tag_of(call.request) for call in route.calls] == ["order-77", "order-77"]
    assert source.asked == []  # their tag may name many sends: it proves nothing
    assert route.call_count == 2
    assert result.callback_data == "order-77"


async def test_a_failing_status_source_leaves_the_send_as_without_one() -> None:
    class Broken:
        async def seen(self, tags: Sequence[str]) -> list[Seen]:
            raise OSError("disk gone")

    with respx.mock(using="httpx") as mock:
        route = mock.post(URL).mock(side_effect=[httpx.Response(500), ok("gs-2")])
        async with client(Broken(), confirm_within=2.0) as sender:
            result = await sender.send("+91 98765 43210", MESSAGE)
    assert route.call_count == 2
    assert result.message_id == "gs-2"


async def test_memory_statuses_fed_by_a_receiver_handler_settle_a_send() -> None:
    statuses = MemoryStatuses()
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        tag = tag_of(request)
        sent.append(tag)
        # What a receiver's handler is handed when the status comes.
        statuses.record(
            StatusUpdate("wamid.HBg1", "sent", "919876543210", 1, "gs-77", None, None, tag)
        )
        raise httpx.ReadTimeout("no answer", request=request)

    with respx.mock(using="httpx") as mock:
        route = mock.post(URL).mock(side_effect=answer)
        async with client(statuses) as sender:
            result = await sender.send("+91 98765 43210", MESSAGE)
    assert route.call_count == 1
    assert result.confirmed
    assert (result.message_id, result.wamid) == ("gs-77", "wamid.HBg1")


async def test_a_campaign_waiting_for_one_status_keeps_sending_to_everyone_else() -> None:
    """Concurrency 1: the one worker's send waits for a status, and a stand-in sends the rest;
    the status comes only once all the others went, and the waiting send is then confirmed.
    """
    others = [f"+9170000{n:05d}" for n in range(20)]
    waiting = "+917999999999"
    calls: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append((body["to"], tag_of(request) if "biz_opaque_callback_data" in body else ""))
        if body["to"] == waiting.lstrip("+"):
            return httpx.Response(502)
        return ok(f"gs-{len(calls)}")

    def knows(tag: str) -> bool:
        done = sum(1 for to, _ in calls if to != waiting.lstrip("+"))
        return done == len(others) and any(t == tag for to, t in calls if to == waiting.lstrip("+"))

    source = Statuses(knows)
    items = [(Recipient(waiting, key="vip"), MESSAGE), *((to, MESSAGE) for to in others)]
    with respx.mock(using="httpx") as mock:
        mock.post(URL).mock(side_effect=answer)
        async with client(source, confirm_within=600.0) as sender:
            run = sender.send_many(items, concurrency=1, statuses=source)
            async with run:
                outcomes = [o async for o in run]
    assert [o.key for o in outcomes][-1] == "vip"  # everyone else's came first
    vip = outcomes[-1]
    assert vip.result is not None
    assert vip.result.confirmed
    assert sum(1 for to, _ in calls if to == waiting.lstrip("+")) == 1  # never retried
    assert run.stats.confirmed == 1
    assert run.stats.ok == len(items)


def test_tags_read_back_as_written() -> None:
    for tag in (Tag("a1b2c3", "k"), Tag("c0ffee", "cust/42:x", 7), Tag("c9", "k", 2)):
        assert Tag.parse(str(tag)) == tag
    assert str(Tag("a1b2c3", "row-9")) == "a1b2c3/row-9"  # the form campaigns always used
    assert str(Tag("a1b2c3", "row-9", 3)) == "a1b2c3:3/row-9"
    for text in (None, "", "order-77", "/k", "c:/k", "c:1/k", "c:02/k", "c:x/k", "c/"):
        assert Tag.parse(text) is None
    with pytest.raises(ValueError, match="without '/' or ':'"):
        Tag("a/b", "k")


async def test_transport_error_after_status_wait_keeps_its_kind() -> None:
    source = Statuses()
    with respx.mock(using="httpx") as mock:
        mock.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
        async with client(source, max_attempts=2, confirm_within=1.0) as sender:
            with pytest.raises(TransportError) as raised:
                await sender.send("+91 98765 43210", MESSAGE)
    assert raised.value.attempts == 2
    assert raised.value.ambiguous_attempts == 2
    assert raised.value.unconfirmed
    # Each attempt waited for its own tag and the earlier ones.
    assert [len(asked) for asked in source.asked][-1] == 2


@pytest.mark.parametrize("status_comes", [True, False])
async def test_resend_unconfirmed_waits_out_the_horizon_then_sends_only_if_no_status_came(
    tmp_path: Path, status_comes: bool
) -> None:
    path = tmp_path / "campaign.db"
    items = [
        (Recipient("+917000000001", key="a"), MESSAGE),
        (Recipient("+917000000002", key="b"), MESSAGE),
    ]
    with respx.mock(using="httpx") as mock:
        first = mock.post(URL).mock(side_effect=[httpx.Response(500), ok("gs-b")])
        async with client(None, retry_ambiguous=False) as sender:
            run = sender.send_many(items, concurrency=1, journal=path)
            earlier = [o async for o in run]
        assert [o.ok for o in earlier] == [False, True]  # a: no answer; b: sent
        tag_a = tag_of(first.calls[0].request)
        assert tag_a.endswith("/a")
    store = DeliveryStore(path)  # a receiver recorded b's status: statuses are being recorded
    store.record([StatusUpdate("wamid.b", "delivered", "917000000002", 1, "gs-b")])
    store.close()

    polls = 0

    def knows(tag: str) -> bool:
        nonlocal polls
        polls += 1
        return status_comes and tag == tag_a and polls > 10  # a's status, a few seconds late

    source = Statuses(knows)
    journal = Journal(path, resend_unconfirmed=True, unconfirmed_after=30.0)
    with respx.mock(using="httpx", assert_all_called=False) as mock:
        again = mock.post(URL).mock(return_value=ok("gs-a2"))
        async with client(None) as sender:
            run = sender.send_many(items, journal=journal, statuses=source)
            outcomes = {o.key: o async for o in run}
    assert outcomes["b"].skipped
    if status_comes:
        assert again.call_count == 0  # settled by its status while the horizon ran out
        assert outcomes["a"].result is not None
        assert outcomes["a"].result.confirmed
        assert run.stats.confirmed == 1
    else:
        assert again.call_count == 1  # no status within 30 s: it never arrived; sent once
        assert tag_of(again.calls[0].request) == tag_a.replace("/", ":2/", 1)  # never reused
        assert outcomes["a"].ok
    report = DeliveryStore.read_report(path)
    assert report.confirmed == (1 if status_comes else 0)
    assert report.uncertain == 0
