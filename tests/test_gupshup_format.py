"""Gupshup's own callback format (``{"app", "version": 2, "type", "payload"}``): messages,
message events, billing events and user events typed as their version-3 twins are, and a
receiver that stores them. Bodies as Gupshup documents them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gupshup_async import (
    BillingEvent,
    ButtonReply,
    DeliveryStore,
    GupshupClient,
    InboundMessage,
    ListReply,
    LocationReply,
    MediaReceived,
    Receiver,
    StatusUpdate,
    TemplateButtonReply,
    TextMessage,
    UnknownEvent,
    UserEvent,
    WebhookError,
    parse_events,
)
from gupshup_async._examples import TEMPLATE_EXAMPLE
from gupshup_async.sandbox import Sandbox
from tests.servers import under_uvicorn, until

SECRET = "hook-secret-gupshup-format"


def v2(kind: str, payload: Any, timestamp: int = 1580227766370) -> dict[str, Any]:
    return {
        "app": "DemoApp",
        "timestamp": timestamp,
        "version": 2,
        "type": kind,
        "payload": payload,
    }


def inbound(kind: str, inner: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return v2(
        "message",
        {
            "id": "ABEGkYaYVSEEAhAL3SLAWwHKeKrt6s3FKB0c",
            "source": "918x98xx21x4",
            "type": kind,
            "payload": inner,
            "sender": {"phone": "918x98xx21x4", "name": "Smit", "country_code": "91"},
            **extra,
        },
    )


def test_a_text_message_in_gupshup_format() -> None:
    [event] = parse_events(inbound("text", {"text": "Hi"}))
    assert isinstance(event, InboundMessage)
    assert (event.sender, event.phone, event.type, event.text) == (
        "918x98xx21x4",
        "918x98xx21x4",
        "text",
        "Hi",
    )
    assert event.timestamp == 1580227766  # milliseconds, read as seconds
    assert event.identity == ("message", "ABEGkYaYVSEEAhAL3SLAWwHKeKrt6s3FKB0c")


def test_replies_locations_and_files_in_gupshup_format() -> None:
    context = {"context": {"id": "gBEGkYaYVSEEAgnPFrOLcjkFjL8", "gsId": "9b71295f"}}
    [button] = parse_events(
        inbound(
            "button_reply",
            {"title": "Yes", "id": "1", "reply": "Yes 1", "postbackText": "yes"},
            **context,
        )
    )
    assert isinstance(button, ButtonReply)
    assert (button.id, button.title, button.context_id) == (
        "yes",
        "Yes",
        "gBEGkYaYVSEEAgnPFrOLcjkFjL8",
    )
    [row] = parse_events(
        inbound(
            "list_reply", {"title": "Row", "id": "r1", "postbackText": "row-1", "description": "d"}
        )
    )
    assert isinstance(row, ListReply)
    assert (row.id, row.description) == ("row-1", "d")
    [quick] = parse_events(inbound("quick_reply", {"text": "Track it", "type": "button"}))
    assert isinstance(quick, TemplateButtonReply)
    assert quick.payload == "Track it"
    [where] = parse_events(inbound("location", {"longitude": 72.8, "latitude": 19.0}))
    assert isinstance(where, LocationReply)
    assert (where.latitude, where.longitude) == (19.0, 72.8)
    [document] = parse_events(
        inbound(
            "file",
            {
                "caption": "invoice",
                "name": "inv.pdf",
                "url": "https://filemanager/x",
                "contentType": "application/pdf",
            },
        )
    )
    assert isinstance(document, MediaReceived)
    assert (document.kind, document.filename, document.mime_type, document.url) == (
        "document",
        "inv.pdf",
        "application/pdf",
        "https://filemanager/x",
    )


def test_message_events_in_gupshup_format() -> None:
    [enqueued] = parse_events(
        v2(
            "message-event",
            {
                "id": "ee4a68a0-1203-4c85-8dc3-49d0b3226a35",
                "type": "enqueued",
                "destination": "918x98xx21x4",
                "payload": {"whatsappMessageId": "gBEGkYaYVSEEAgnPFrOLcjkFjL8", "type": "session"},
            },
        )
    )
    assert isinstance(enqueued, StatusUpdate)
    assert (enqueued.status, enqueued.message_id, enqueued.gs_id, enqueued.recipient) == (
        "enqueued",
        "gBEGkYaYVSEEAgnPFrOLcjkFjL8",
        "ee4a68a0-1203-4c85-8dc3-49d0b3226a35",
        "918x98xx21x4",
    )
    [sent] = parse_events(
        v2(
            "message-event",
            {
                "id": "gBEGkYaYVSEEAgnPFrOLcjkFjL8",
                "gsId": "ee4a68a0-1203-4c85-8dc3-49d0b3226a35",
                "type": "sent",
                "destination": "918x98xx21x4",
                "payload": {"ts": 1585344475},
            },
        )
    )
    assert isinstance(sent, StatusUpdate)
    assert (sent.status, sent.message_id, sent.gs_id, sent.timestamp) == (
        "sent",
        "gBEGkYaYVSEEAgnPFrOLcjkFjL8",
        "ee4a68a0-1203-4c85-8dc3-49d0b3226a35",
        1585344475,
    )
    [failed] = parse_events(
        v2(
            "message-event",
            {
                "id": "ee4a68a0-1203-4c85-8dc3-49d0b3226a35",
                "type": "failed",
                "destination": "918x98xx21x4",
                "payload": {"code": 1002, "reason": "Number Does Not Exists On WhatsApp"},
            },
        )
    )
    assert isinstance(failed, StatusUpdate)
    assert (failed.status, failed.error_code, failed.gs_id) == (
        "failed",
        1002,
        "ee4a68a0-1203-4c85-8dc3-49d0b3226a35",
    )


def test_billing_events_per_message_and_per_conversation() -> None:
    [per_message] = parse_events(
        v2(
            "billing-event",
            {
                "deductions": {
                    "type": "regular",
                    "model": "PMP",
                    "source": "whatsapp",
                    "billable": True,
                    "category": "marketing",
                },
                "references": {
                    "id": "d04cc3a7-18f0-4571-831e",
                    "gsId": "7bf06899-5f0f-4cca-be3b",
                    "destination": "79507000000",
                },
            },
            1739354482884,
        )
    )
    assert per_message == BillingEvent(
        "d04cc3a7-18f0-4571-831e",
        "7bf06899-5f0f-4cca-be3b",
        "79507000000",
        "marketing",
        True,
        "PMP",
        1739354482,
    )
    [per_conversation] = parse_events(
        v2(
            "billing-event",
            {
                "deductions": {
                    "type": "utility",
                    "model": "CBP",
                    "source": "whatsapp",
                    "billable": "false",
                },
                "references": {
                    "id": "59f8db90",
                    "gsId": "ee4a68a0",
                    "conversationId": "532b57b5",
                    "destination": "91",
                },
            },
        )
    )
    assert isinstance(per_conversation, BillingEvent)
    assert (
        per_conversation.category,
        per_conversation.billable,
        per_conversation.conversation_id,
    ) == (
        "utility",
        False,
        "532b57b5",
    )


def test_user_events_and_what_stays_unknown() -> None:
    [opted] = parse_events(v2("user-event", {"phone": "918x98xx21x4", "type": "opted-out"}))
    assert opted == UserEvent("918x98xx21x4", "opted-out", 1580227766)
    for odd in (
        v2("contact-event", {"phone": "91"}),  # a type this version does not know
        v2("billing-event", {"deductions": {}}),  # nothing it names
        v2("message-event", "not an object"),
        v2("message", {"type": "text", "payload": {"text": "from nobody"}}),
    ):
        [event] = parse_events(odd)
        assert isinstance(event, UnknownEvent)
        assert event.raw == odd  # kept whole
    with pytest.raises(WebhookError):
        parse_events({"app": "DemoApp", "version": 2})  # neither format


async def test_a_receiver_stores_statuses_and_billing_in_gupshup_format(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.db"
    receiver = Receiver(SECRET, store=str(journal))
    people = [f"+9170000{n:05d}" for n in range(6)]
    items = [(to, TEMPLATE_EXAMPLE) for to in people[:4]]  # a utility template
    items += [(to, TextMessage("Thanks for writing")) for to in people[4:]]  # service
    async with under_uvicorn(receiver, "/hooks") as hook:
        async with (
            Sandbox(
                callback_url=hook,
                callback_headers={"X-Hook-Secret": SECRET},
                status_delay=0.01,
                callback_format="gupshup",
                undeliverable={people[3].lstrip("+")},
            ) as sandbox,
            GupshupClient(
                sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
            ) as client,
        ):
            [o async for o in client.send_many(items, journal=journal)]
            await until(lambda: not sandbox.callbacks_pending)
            await receiver.drain()
        await receiver.aclose()
    assert not any(k.startswith("refused") for k in receiver.stats)
    report = DeliveryStore.read_report(journal)
    assert report.by_status == {"read": 5, "failed": 1}
    assert report.by_category == {"utility": (3, 3), "service": (2, 0)}  # service is free
