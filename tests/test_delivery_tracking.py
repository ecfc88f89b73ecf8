"""Every message followed from accepted to delivered, read or failed, and replies tied to what
they answer: a campaign through the sandbox, its callbacks into the Receiver under uvicorn.
"""

from __future__ import annotations

import asyncio
import json

import httpx

from gupshup_async import (
    AccountError,
    ButtonMessage,
    ButtonReply,
    Event,
    GupshupClient,
    Message,
    NotAttempted,
    RateLimit,
    Receiver,
    StatusUpdate,
    TemplateMessage,
    UnreachableRecipient,
)
from gupshup_async.sandbox import Sandbox
from tests.conftest import Records
from tests.servers import under_uvicorn, until

SECRET = "hook-secret-tracking-1"
NUMBERS = [f"+9170000{n:05d}" for n in range(30)]
UNDELIVERABLE = {"917000000003", "917000000011"}
OUTSIDE_WINDOW = {"917000000005", "917000000017", "917000000029"}


async def test_a_campaigns_report_matches_what_the_sandbox_did_per_item(records: Records) -> None:
    seen: list[Event] = []
    items = [
        (to, ButtonMessage(f"Order {n} shipped. Rate us?", [("good", "Great")]))
        for n, to in enumerate(NUMBERS)
    ]
    receiver = Receiver(SECRET, store=records.where, handlers=[seen.append])
    async with under_uvicorn(receiver, "/hooks/gupshup") as hook:
        async with Sandbox(
            callback_url=hook,
            callback_headers={"X-Hook-Secret": SECRET},
            undeliverable=UNDELIVERABLE,
            outside_window=OUTSIDE_WINDOW,
            repeat_callbacks=True,
            reorder_callbacks=True,
            status_delay=0.002,
        ) as sandbox:
            async with GupshupClient(
                sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
            ) as client:
                outcomes = [o async for o in client.send_many(items, journal=records.journal())]
            expected_statuses = 4 * len(NUMBERS) - 2 * len(UNDELIVERABLE | OUTSIDE_WINDOW)
            await until(lambda: sum(isinstance(e, StatusUpdate) for e in seen) >= expected_statuses)
            first = sandbox.account.processed[0]
            await sandbox.tap(first.message_id, "good", "Great")
            await until(lambda: any(isinstance(e, ButtonReply) for e in seen))
            await receiver.drain()
            stats = dict(receiver.stats)
    assert all(o.ok for o in outcomes)
    store = records.store()
    try:
        for processed in sandbox.account.processed:
            delivery = store.find(processed.message_id)
            assert delivery is not None
            assert delivery.wamid == processed.wamid  # learnt from the first status
            assert delivery.key is not None  # which item it was, whichever came first
            if processed.to in UNDELIVERABLE:
                assert (delivery.status, delivery.error_code) == ("failed", 131026)
            elif processed.to in OUTSIDE_WINDOW:
                assert (delivery.status, delivery.error_code) == ("failed", 131047)
            else:
                assert delivery.status == "read"  # though "read" came first, then older ones
        [tap] = [e for e in seen if isinstance(e, ButtonReply)]
        answered = store.find(tap.context_id or "")  # the reply names Meta's id
        assert answered is not None
        assert answered.gs_id == first.message_id
    finally:
        store.close()
    report = records.report()
    assert report.accepted == len(NUMBERS)
    assert report.by_status == {"read": 25, "failed": 5}
    assert report.failed_by_code == {131026: 2, 131047: 3}
    assert report.to_json()["failed"][0]["what_to_do"] == "send an approved template instead"
    assert stats["duplicates"] == expected_statuses  # every callback came twice
    assert stats["events"] == expected_statuses + 1


async def test_statuses_find_their_item_by_callback_data_when_ids_are_gone(
    records: Records,
) -> None:
    journal = records.journal()
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            [outcome] = [
                o
                async for o in client.send_many(
                    [(NUMBERS[0], ButtonMessage("Hi", ["OK"]))], journal=journal
                )
            ]
    [processed] = sandbox.account.processed
    assert processed.callback_data is not None
    campaign, _, key = processed.callback_data.partition("/")
    assert key == outcome.key
    store = records.store()
    try:
        assert campaign == journal.campaign
        late = StatusUpdate(
            "wamid.unknown-to-us", "delivered", None, 1, callback_data=processed.callback_data
        )
        assert store.record([late]) == 1  # a week later: no gs_id, an unseen wamid
        delivery = store.find(outcome.result.message_id)  # type: ignore[union-attr]
        assert delivery is not None
        assert delivery.status == "delivered"
    finally:
        store.close()


async def test_hostile_bodies_get_a_4xx_and_the_receiver_keeps_serving() -> None:
    receiver = Receiver(SECRET)
    transport = httpx.ASGITransport(app=receiver)
    headers = {"X-Hook-Secret": SECRET}
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        answers = [
            await http.post("/", content=b"{not json", headers=headers),
            await http.post("/", json=[1, 2, 3], headers=headers),
            await http.post("/", json={"no": "entry"}, headers=headers),
            await http.post("/", content=b"[" * 100_000 + b"]" * 100_000, headers=headers),
            await http.post("/", content=b"x" * 10_000_000, headers=headers),
            await http.post("/", json={"entry": []}, headers={"X-Hook-Secret": "guess"}),
            await http.get("/", headers=headers),
        ]
        fine = await http.post("/", json={"entry": []}, headers=headers)
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 413, 401, 405]
    assert fine.status_code == 200
    assert receiver.stats["refused_400"] == 4
    assert receiver.stats["refused_413"] == 1
    await receiver.aclose()


def test_a_receiver_without_a_secret_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="shared secret"):
        Receiver("")


async def test_a_failing_handler_is_counted_and_the_others_still_run() -> None:
    got: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    async def fine(event: Event) -> None:
        got.append(event)

    receiver = Receiver(SECRET, handlers=[broken, fine])
    body = {
        "entry": [
            {
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "statuses": [
                                {
                                    "id": "wamid.1",
                                    "status": "sent",
                                    "timestamp": "1",
                                    "recipient_id": "1",
                                }
                            ]
                        },
                    }
                ]
            }
        ]
    }
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        answer = await http.post("/", content=json.dumps(body), headers={"X-Hook-Secret": SECRET})
    await receiver.drain()
    assert answer.status_code == 200
    assert len(got) == 1
    assert receiver.stats["handler_errors"] == 1
    await receiver.aclose()


async def test_statuses_feed_back_into_a_running_campaign(records: Records) -> None:
    gone = "917000000000"
    items = [(f"+{gone}", ButtonMessage("First", ["OK"]))]
    items += [(to, ButtonMessage("Hello", ["OK"])) for to in NUMBERS[1:30]]
    items += [(f"+{gone}", ButtonMessage("Second", ["OK"]))]  # after its first one failed
    receiver = Receiver(SECRET, store=records.where)
    async with under_uvicorn(receiver, "/hooks/gupshup") as hook:
        async with Sandbox(
            callback_url=hook,
            callback_headers={"X-Hook-Secret": SECRET},
            undeliverable={gone},
            status_delay=0.002,
        ) as sandbox:
            async with GupshupClient(
                sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=RateLimit(20)
            ) as client:
                run = client.send_many(items, concurrency=4, journal=records.journal())
                outcomes = [o async for o in run]
        await receiver.aclose()
    [second] = [o for o in outcomes if o.message is not None and o.message.body == "Second"]
    assert isinstance(second.error, UnreachableRecipient)
    assert second.error.code == 131026
    assert [p.body_text for p in sandbox.account.processed if p.to == gone] == ["First"]


async def test_an_account_level_failure_in_a_status_stops_the_campaign(records: Records) -> None:
    items = [(to, ButtonMessage("Hello", ["OK"])) for to in NUMBERS]
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=RateLimit(20)
        ) as client:
            outcomes = []
            async with client.send_many(items, journal=records.journal()) as run:
                async for outcome in run:
                    outcomes.append(outcome)
                    if len(outcomes) == 5:  # Meta says: spam rate limit hit (the account)
                        store = await asyncio.to_thread(records.store)
                        sent = outcomes[0].result
                        assert sent is not None
                        spam = StatusUpdate(
                            "wamid.x",
                            "failed",
                            sent.to,
                            1,
                            gs_id=sent.message_id,
                            error_code=131048,
                            callback_data=sent.callback_data,  # this campaign's message
                        )
                        await asyncio.to_thread(store.record, [spam])
                        store.close()
    stopped = [o for o in outcomes if isinstance(o.error, NotAttempted)]
    assert len(stopped) >= len(NUMBERS) - 5 - 25  # stopped within about a second (20 a second)
    assert stopped
    cause = stopped[0].error.cause  # type: ignore[union-attr]
    assert isinstance(cause, AccountError)
    assert cause.code == 131048
    assert len(sandbox.account.processed) < len(NUMBERS)


async def test_after_a_131047_a_run_sends_that_user_no_more_free_form_messages(
    records: Records,
) -> None:
    away = "917000000001"
    reminder = TemplateMessage("appointment_reminder", "en", body=["Asha", "8pm"])
    items: list[tuple[str, Message]] = [(f"+{away}", ButtonMessage("First", ["OK"]))]
    items += [(to, ButtonMessage("Hello", ["OK"])) for to in NUMBERS[2:30]]
    items += [(f"+{away}", ButtonMessage("Second", ["OK"])), (f"+{away}", reminder)]
    receiver = Receiver(SECRET, store=records.where)
    async with under_uvicorn(receiver, "/hooks/gupshup") as hook:
        async with Sandbox(
            callback_url=hook,
            callback_headers={"X-Hook-Secret": SECRET},
            outside_window={away},
            status_delay=0.002,
        ) as sandbox:
            async with GupshupClient(
                sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=RateLimit(20)
            ) as client:
                outcomes = [
                    o
                    async for o in client.send_many(items, concurrency=4, journal=records.journal())
                ]
        await receiver.aclose()
    mine = [o for o in outcomes if o.to == away]
    assert [type(o.error).__name__ if o.error else "sent" for o in mine] == [
        "sent",  # accepted, then failed with 131047 (a status)
        "OutsideWindow",  # the next free-form message: not sent
        "sent",  # the template: needs no window
    ]
    assert [p.interactive_type for p in sandbox.account.by_recipient()[away]] == [
        "button",
        "template",
    ]
