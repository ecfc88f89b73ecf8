"""A campaign that respects the 24-hour window, end to end: users write to the sandbox, their
messages reach the Receiver under uvicorn and open their windows in the store; the campaign then
sends the interactive message inside the window and a template outside it; a tap on the
template's quick reply comes back tied to its item.
"""

from __future__ import annotations

import collections
import time

import httpx

from gupshup_async import (
    ButtonMessage,
    Event,
    GupshupClient,
    MemoryWindowStore,
    Message,
    Receiver,
    Recipient,
    StatusUpdate,
    TemplateButtonReply,
    TemplateMessage,
    TemplateQuickReply,
    WindowPolicy,
)
from gupshup_async.sandbox import Sandbox
from tests.conftest import Records, window_of
from tests.servers import under_uvicorn, until

SECRET = "hook-secret-window-1"
NUMBERS = [f"+9171{n:08d}" for n in range(1000)]
WROTE = set(NUMBERS[::2])  # half of them wrote to the business in the last 24 hours


def reminder(to: str, message: Message) -> TemplateMessage:
    """The template sent in place of the interactive message, made for each recipient."""
    return TemplateMessage(
        "appointment_reminder",
        "en",
        body=[f"customer {to[-4:]}", "Friday 8pm"],
        buttons=[TemplateQuickReply(0, f"yes-{to[-4:]}"), TemplateQuickReply(1, "later")],
    )


async def test_a_thousand_recipients_half_inside_the_window_each_get_exactly_one_message(
    records: Records,
) -> None:
    windows = MemoryWindowStore()
    seen: list[Event] = []
    receiver = Receiver(SECRET, store=records.where, windows=windows, handlers=[seen.append])
    items = [
        (Recipient(to, key=f"customer-{n}"), ButtonMessage("Table for two at 8pm?", ["Yes"]))
        for n, to in enumerate(NUMBERS)
    ]
    async with under_uvicorn(receiver, "/hooks/gupshup") as hook:
        async with Sandbox(
            callback_url=hook,
            callback_headers={"X-Hook-Secret": SECRET},
            windows=True,  # free-form messages outside the window fail with 131047
            statuses=("sent", "delivered"),
            status_delay=0.001,
        ) as sandbox:
            for to in sorted(WROTE):
                await sandbox.user_writes(to, "Hi, is the offer still on?")
            await until(lambda: len(windows) == len(WROTE))
            async with GupshupClient(
                sandbox.app_id,
                sandbox.token,
                base_url=sandbox.base_url,
                rate_limit=None,
                windows=windows,
                window_policy=WindowPolicy.template_instead(reminder),
                templates="fetch",  # and each template checked against the app's list
            ) as client:
                outcomes = [o async for o in client.send_many(items, journal=records.journal())]
            await until(
                lambda: sum(isinstance(e, StatusUpdate) for e in seen) >= 2 * len(NUMBERS), 60
            )
            # A user outside the window taps the template's first quick reply.
            outside = next(p for p in sandbox.account.processed if p.template is not None)
            await sandbox.tap_template(outside.message_id, f"yes-{outside.to[-4:]}", "Yes")
            await until(lambda: any(isinstance(e, TemplateButtonReply) for e in seen))
            await receiver.drain()

    assert len(outcomes) == len(NUMBERS)
    assert all(o.ok for o in outcomes)
    by_recipient = sandbox.account.by_recipient()
    assert sorted(by_recipient) == sorted(to.lstrip("+") for to in NUMBERS)
    kinds: collections.Counter[str] = collections.Counter()
    for to, processed in by_recipient.items():
        assert len(processed) == 1, to  # exactly one message each
        [message] = processed
        assert not message.outside_window
        expected = "button" if f"+{to}" in WROTE else "template"
        assert message.interactive_type == expected
        kinds[expected] += 1
    assert kinds == {"button": 500, "template": 500}
    for outcome in outcomes:
        assert outcome.result is not None
        sent_instead = outcome.result.sent_instead
        assert (sent_instead is None) == (f"+{outcome.to}" in WROTE)
    failures = [e for e in seen if isinstance(e, StatusUpdate) and e.status == "failed"]
    assert failures == []  # no 131047, nor anything else
    [tap] = [e for e in seen if isinstance(e, TemplateButtonReply)]
    assert tap.payload == f"yes-{outside.to[-4:]}"
    expected_key = next(o.key for o in outcomes if o.to == outside.to)
    assert tap.item == expected_key
    report = records.report()
    assert report.by_status == {"delivered": 1000}
    assert report.failed_by_code == {}


async def test_without_a_policy_the_sandbox_fails_them_as_whatsapp_would_and_the_store_learns(
    records: Records,
) -> None:
    windows = records.windows()
    seen: list[Event] = []
    receiver = Receiver(SECRET, windows=windows, handlers=[seen.append])
    numbers = NUMBERS[:10]
    async with under_uvicorn(receiver, "/hooks/gupshup") as hook:
        async with Sandbox(
            callback_url=hook,
            callback_headers={"X-Hook-Secret": SECRET},
            windows=True,
            statuses=("sent", "delivered"),
            status_delay=0.001,
        ) as sandbox:
            await sandbox.user_writes(numbers[0])
            async with GupshupClient(
                sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
            ) as client:
                for to in numbers:  # today's behaviour: send anyway
                    await client.send(to, ButtonMessage("Back in stock!", ["Buy"]))
            await until(lambda: sum(isinstance(e, StatusUpdate) for e in seen) >= 2 * 10)
            await receiver.drain()
    failed = {e.recipient for e in seen if isinstance(e, StatusUpdate) and e.status == "failed"}
    assert failed == {to.lstrip("+") for to in numbers[1:]}
    assert {e.error_code for e in seen if isinstance(e, StatusUpdate) and e.error_code} == {131047}
    # What the store learnt: the next send refuses them before anything leaves.
    now = time.time()
    assert (await window_of(windows, numbers[0])).is_open(now) is True
    assert [(await window_of(windows, to)).is_open(now) for to in numbers[1:]] == [False] * 9
    windows.close()  # type: ignore[attr-defined]


async def test_a_user_writes_to_the_sandbox_over_http_and_a_bad_body_is_a_400() -> None:
    async with Sandbox(windows=True) as sandbox, httpx.AsyncClient() as http:
        url = f"{sandbox.base_url}/sandbox/inbound"
        assert (await http.post(url, json={"from": "+91 98765 43210"})).status_code == 200
        assert (await http.post(url, json={"text": "no sender"})).status_code == 400
        assert (await http.post(url, content=b"{")).status_code == 400
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            for to in ("+919876543210", "+919876543211"):
                await client.send(to, ButtonMessage("Back in stock!", ["Buy"]))
    assert [p.outside_window for p in sandbox.account.processed] == [False, True]
