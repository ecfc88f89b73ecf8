"""Events about users and templates rather than messages, typed: a number change (a system
message, which opens no 24-hour window), a user stopping marketing messages, a template paused,
its quality or category changed. Bodies as Meta documents them.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import pytest

from gupshup_async import (
    GupshupClient,
    ImageHeader,
    MemoryWindowStore,
    Receiver,
    Recipient,
    RecipientMoved,
    StatusUpdate,
    SystemNotice,
    TemplateCopyCode,
    TemplateDefinitions,
    TemplateMessage,
    TemplateUpdate,
    TextMessage,
    UnknownEvent,
    UserOptedOut,
    UserPreference,
    ValidationError,
    parse_events,
)
from gupshup_async._examples import TEMPLATE_EXAMPLE
from gupshup_async.sandbox import Sandbox
from tests.conftest import Records, window_of
from tests.servers import under_uvicorn, until

SECRET = "hook-secret-account-events"


def change(field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": value}]}],
    }


def test_a_number_change_is_a_system_notice_that_opens_no_window() -> None:
    now = int(time.time())
    body = change(
        "messages",
        {
            "messaging_product": "whatsapp",
            "messages": [
                {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBI3RjU2OTg3RjQ0QTE0QUFBQUEA",
                    "timestamp": str(now),
                    "type": "system",
                    "system": {
                        "body": "User A changed from 16505551234 to 16505559999",
                        "new_wa_id": "16505559999",
                        "type": "user_changed_number",
                    },
                }
            ],
        },
    )
    [event] = parse_events(body)
    assert isinstance(event, SystemNotice)
    assert (event.kind, event.sender, event.new_wa_id) == (
        "user_changed_number",
        "16505551234",
        "16505559999",
    )
    windows = MemoryWindowStore()
    windows.record([event])
    assert not windows.window("16505551234").is_open(now)  # a number change is not a message


def test_a_user_who_stopped_marketing_messages() -> None:
    body = change(
        "user_preferences",
        {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550783881",
                "phone_number_id": "106540352242922",
            },
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "user_preferences": [
                {
                    "wa_id": "16505551234",
                    "detail": "User requested to stop marketing messages",
                    "category": "marketing_messages",
                    "value": "stop",
                    "timestamp": 1731705721,
                }
            ],
        },
    )
    [event] = parse_events(body)
    assert isinstance(event, UserPreference)
    assert (event.wa_id, event.category, event.value, event.timestamp) == (
        "16505551234",
        "marketing_messages",
        "stop",
        1731705721,
    )
    assert event.stopped


def test_template_status_quality_and_category_updates() -> None:
    paused = change(
        "message_template_status_update",
        {
            "event": "PAUSED",
            "message_template_id": 806312974732579,
            "message_template_name": "welcome_template",
            "message_template_language": "en_US",
            "reason": None,
            "other_info": {"title": "SECOND_PAUSE", "description": "paused for low quality"},
        },
    )
    quality = change(
        "message_template_quality_update",
        {
            "previous_quality_score": "GREEN",
            "new_quality_score": "YELLOW",
            "message_template_id": 806312974732579,
            "message_template_name": "welcome_template",
            "message_template_language": "en_US",
        },
    )
    category = change(
        "template_category_update",
        {
            "message_template_id": 806312974732579,
            "message_template_name": "welcome_template",
            "message_template_language": "en_US",
            "previous_category": "UTILITY",
            "new_category": "MARKETING",
        },
    )
    [status] = parse_events(paused)
    [score] = parse_events(quality)
    [kind] = parse_events(category)
    assert isinstance(status, TemplateUpdate)
    assert (status.name, status.language, status.template_id, status.status) == (
        "welcome_template",
        "en_US",
        "806312974732579",
        "PAUSED",
    )
    assert isinstance(score, TemplateUpdate)
    assert (score.previous, score.new) == ("GREEN", "YELLOW")
    assert isinstance(kind, TemplateUpdate)
    assert (kind.field, kind.previous, kind.new) == (
        "template_category_update",
        "UTILITY",
        "MARKETING",
    )


def test_a_preference_without_a_user_stays_unknown_never_raises() -> None:
    [event] = parse_events(change("user_preferences", {"user_preferences": [{"value": "stop"}]}))
    assert isinstance(event, UnknownEvent)


async def test_a_campaign_follows_a_template_paused_and_a_user_opting_out_mid_run(
    records: Records,
) -> None:
    """Marketing deals and utility receipts go out; midway the deals template is paused, one
    user stops marketing messages and another changes number. Nothing is sent after that
    WhatsApp would refuse or the user declined, nothing to the number the other user left;
    receipts still go, to the user who stopped marketing too. The report says what it cost.
    """
    templates = TemplateDefinitions.from_json(
        [
            {
                "name": "deals",
                "language": "en",
                "status": "APPROVED",
                "category": "MARKETING",
                "components": [{"type": "BODY", "text": "Hi {{1}}, this week: 20% off"}],
            },
            {
                "name": "spring_news",
                "language": "en",
                "status": "APPROVED",
                "category": "MARKETING",
                "components": [{"type": "BODY", "text": "Hi {{1}}, spring is here"}],
            },
            {
                "name": "receipt",
                "language": "en",
                "status": "APPROVED",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Receipt {{1}}"}],
            },
        ]
    )
    people = [f"+9170000{n:05d}" for n in range(40)]
    quitter, mover = people[30], people[35]

    def template(name: str, to: str) -> TemplateMessage:
        return TemplateMessage(name, "en", body=[to[-4:]])

    first = [(Recipient(to, key=f"deals-{to}"), template("deals", to)) for to in people[:20]]
    buffer = [(Recipient(to, key=f"receipt-{to}"), template("receipt", to)) for to in people[:3]]
    later = []
    for to in people[20:]:
        later.append((Recipient(to, key=f"deals-{to}"), template("deals", to)))
        later.append((Recipient(to, key=f"spring-{to}"), template("spring_news", to)))
        later.append((Recipient(to, key=f"receipt-{to}"), template("receipt", to)))
    receiver = Receiver(SECRET, store=records.where)
    outcomes = []
    async with under_uvicorn(receiver, "/hooks") as hook:
        async with (
            Sandbox(
                callback_url=hook,
                callback_headers={"X-Hook-Secret": SECRET},
                templates=templates,
                status_delay=0.01,
            ) as sandbox,
            GupshupClient(
                sandbox.app_id,
                sandbox.token,
                base_url=sandbox.base_url,
                rate_limit=None,
                templates="fetch",
            ) as client,
        ):
            run = client.send_many(
                [*first, *buffer, *later], concurrency=1, journal=records.journal()
            )
            async with run:
                async for outcome in run:
                    outcomes.append(outcome)
                    if len(outcomes) == len(first):  # midway: the buffer is next
                        await sandbox.template_status("deals", "en", "PAUSED")
                        await sandbox.user_preference(quitter.lstrip("+"), "stop")
                        await sandbox.change_number(mover, "+919999900001")
                        await until(lambda: receiver.stats["events"] >= 3)
                        await receiver.drain()
                        await run.read_statuses()
            await until(lambda: not sandbox.callbacks_pending)
            await receiver.drain()
        await receiver.aclose()
    processed = sandbox.account.processed
    after = processed[len(first) + len(buffer) :]
    assert sandbox.account.answers[400] == 0  # nothing sent that WhatsApp would refuse
    assert all(p.template != "deals" for p in after)  # paused: refused before sending
    assert not any(p.template == "spring_news" and p.to == quitter.lstrip("+") for p in after)
    assert any(p.template == "receipt" and p.to == quitter.lstrip("+") for p in after)
    assert sum(p.template == "spring_news" for p in after) == len(people[20:]) - 2  # both
    by_key = {o.key: o for o in outcomes}
    assert isinstance(by_key[f"spring-{quitter}"].error, UserOptedOut)
    paused = by_key[f"deals-{people[25]}"].error
    assert isinstance(paused, ValidationError)
    assert "PAUSED" in str(paused)
    assert paused.attempts == 0  # not sent, not journaled: once approved again, a rerun sends it
    assert not any(p.to == mover.lstrip("+") for p in after)  # the number they left
    moved = by_key[f"receipt-{mover}"].error
    assert isinstance(moved, RecipientMoved)
    assert moved.new == "919999900001"
    assert "919999900001" in str(moved)
    # What it cost: every message sent was billed in its template's category.
    sent = collections.Counter(p.template for p in processed)
    report = records.report()
    assert report.by_category == {
        "marketing": (sent["deals"] + sent["spring_news"],) * 2,
        "utility": (sent["receipt"],) * 2,
    }


async def test_single_sends_follow_what_the_client_learnt() -> None:
    paused = parse_events(
        change(
            "message_template_status_update",
            {
                "event": "PAUSED",
                "message_template_id": 1,
                "message_template_name": "cart_reminder",
                "message_template_language": "en",
            },
        )
    )
    stop, resume = (
        parse_events(
            change(
                "user_preferences",
                {
                    "user_preferences": [
                        {
                            "wa_id": "919876543210",
                            "category": "marketing_messages",
                            "value": value,
                            "timestamp": 1731705721 + n,
                        }
                    ]
                },
            )
        )
        for n, value in enumerate(("stop", "resume"))
    )
    spring = TEMPLATE_EXAMPLE  # order_shipped: a utility template
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            for event in paused:
                client.learn(event)
            cart = TemplateMessage(
                "cart_reminder", "en", body={"first_name": "A", "discount": "5%"}
            )
            with pytest.raises(ValidationError, match="PAUSED"):
                await client.send("+919876543210", cart)
            for event in stop:
                client.learn(event)
            await client.send("+919876543210", spring)  # no definitions: category unknown, sent
    assert [p.template for p in sandbox.account.processed] == ["order_shipped"]
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id,
            sandbox.token,
            base_url=sandbox.base_url,
            rate_limit=None,
            templates="fetch",
        ) as client:
            for event in stop:
                client.learn(event)
            await client.fetch_templates()
            news = TemplateMessage(
                "cart_reminder",
                "en",
                header=ImageHeader("https://cdn.example.com/cart.png"),
                body={"first_name": "Asha", "discount": "10%"},
                buttons=[TemplateCopyCode(0, "SAVE10")],
            )
            with pytest.raises(UserOptedOut):
                await client.send("+919876543210", news)  # marketing, and they stopped it
            await client.send("+919876543210", spring)  # utility still goes
            for event in resume:
                client.learn(event)
            await client.send("+919876543210", news)  # they resumed
    assert [p.template for p in sandbox.account.processed] == ["order_shipped", "cart_reminder"]


def test_a_status_addressed_by_user_id_only_and_its_pricing() -> None:
    body = change(
        "messages",
        {
            "statuses": [
                {
                    "id": "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
                    "status": "delivered",
                    "timestamp": "1750263773",
                    "recipient_user_id": "US.13491208655302741918",
                    "conversation": {
                        "id": "6ceb9d929c1c1ad16f85dd4f8e2a1b7a",
                        "origin": {"type": "marketing"},
                    },
                    "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing"},
                }
            ]
        },
    )
    [status] = parse_events(body)
    assert isinstance(status, StatusUpdate)
    assert status.recipient == status.user_id == "US.13491208655302741918"
    assert (status.pricing_category, status.billable, status.pricing_model) == (
        "marketing",
        True,
        "PMP",
    )
    assert status.conversation_id == "6ceb9d929c1c1ad16f85dd4f8e2a1b7a"


async def test_the_report_says_what_a_campaign_cost_by_category(records: Records) -> None:
    receiver = Receiver(SECRET, store=records.where)
    people = [f"+9170000{n:05d}" for n in range(6)]
    items = [(to, TEMPLATE_EXAMPLE) for to in people[:4]]  # order_shipped: utility
    items += [(to, TextMessage("Thanks for writing")) for to in people[4:]]  # service
    async with under_uvicorn(receiver, "/hooks") as hook:
        async with (
            Sandbox(
                callback_url=hook, callback_headers={"X-Hook-Secret": SECRET}, status_delay=0.01
            ) as sandbox,
            GupshupClient(
                sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
            ) as client,
        ):
            [o async for o in client.send_many(items, journal=records.journal())]
            await until(lambda: not sandbox.callbacks_pending)
            await receiver.drain()
        await receiver.aclose()
    report = records.report()
    assert report.by_category == {"utility": (4, 4), "service": (2, 2)}
    assert report.to_json()["by_category"]["utility"] == {"messages": 4, "billable": 4}


def number_change(old: str, new: str, at: int) -> dict[str, Any]:
    return change(
        "messages",
        {
            "messages": [
                {
                    "from": old,
                    "id": f"wamid.system-{old}",
                    "timestamp": str(at),
                    "type": "system",
                    "system": {"body": "changed", "new_wa_id": new, "type": "user_changed_number"},
                }
            ]
        },
    )


async def test_a_number_change_moves_the_window_in_any_store(records: Records) -> None:
    now = int(time.time())
    wrote = change(
        "messages",
        {
            "messages": [
                {
                    "from": "919876543210",
                    "id": "wamid.hi",
                    "timestamp": str(now - 60),
                    "type": "text",
                    "text": {"body": "Hi"},
                }
            ]
        },
    )
    kept = records.windows()
    try:
        for store in (MemoryWindowStore(), kept):
            store.record(parse_events(wrote))
            assert (await window_of(store, "919876543210")).is_open(now)
            store.record(parse_events(number_change("919876543210", "919812345678", now)))
            # The window went with the user; the old number is not theirs.
            assert (await window_of(store, "919812345678")).is_open(now)
            assert not (await window_of(store, "919876543210")).is_open(now)
    finally:
        kept.close()  # type: ignore[attr-defined]


def test_a_number_change_moves_the_users_records_but_not_an_old_failure(
    records: Records,
) -> None:
    store = records.store()
    try:
        stop = change(
            "user_preferences",
            {
                "user_preferences": [
                    {
                        "wa_id": "919876543210",
                        "category": "marketing_messages",
                        "value": "stop",
                        "timestamp": 1,
                    }
                ]
            },
        )
        failed = change(
            "messages",
            {
                "statuses": [
                    {
                        "id": "wamid.f",
                        "gs_id": "gs-f",
                        "status": "failed",
                        "timestamp": "1",
                        "recipient_id": "919876543210",
                        "errors": [{"code": 131026, "title": "undeliverable"}],
                    }
                ]
            },
        )
        store.record_new([parse_events(stop), parse_events(failed)])
        store.record_new([parse_events(number_change("919876543210", "919812345678", 2))])
    finally:
        store.close()
    reader = records.journal()

    async def read() -> tuple[set[str], list[tuple[str, int | None]]]:
        await reader.open()
        try:
            return reader.opted_out(), reader.failures()
        finally:
            await reader.close()

    opted_out, failures = asyncio.run(read())
    assert "919812345678" in opted_out  # they said stop: it holds on their new number
    assert failures == [("919876543210", 131026)]  # the old number's failure stays with it
