"""Webhook events: every documented shape, both error forms, and anything else without raising."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gupshup_async import (
    ButtonReply,
    CallPermissionReply,
    ConnectivityCheck,
    ContactsShared,
    ErrorNotice,
    FlowReply,
    InboundMessage,
    ListReply,
    LocationReply,
    OrderReceived,
    StatusUpdate,
    TemplateButtonReply,
    UnknownEvent,
    WebhookError,
    parse_events,
)


def envelope(*values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "gs_app_id": "app-1",
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "waba-1", "changes": [{"field": field, "value": value} for value in values]}
        ],
    }


def inbound(message: dict[str, Any]) -> dict[str, Any]:
    base = {"from": "919876543210", "id": "wamid.IN1", "timestamp": "1732500000"}
    return {"messaging_product": "whatsapp", "messages": [{**base, **message}]}


def test_button_reply_is_matched_to_the_message_that_carried_the_buttons() -> None:
    [event] = parse_events(
        json.dumps(
            envelope(
                inbound(
                    {
                        "type": "interactive",
                        "context": {"from": "15550001111", "id": "gs-42"},
                        "interactive": {
                            "type": "button_reply",
                            "button_reply": {"id": "book", "title": "Book it"},
                        },
                    }
                )
            )
        ).encode()
    )
    assert event == ButtonReply(
        sender="919876543210",
        phone="919876543210",
        message_id="wamid.IN1",
        timestamp=1732500000,
        context_id="gs-42",
        id="book",
        title="Book it",
    )
    assert event.identity == ("message", "wamid.IN1")


def test_list_flow_and_location_replies() -> None:
    events = parse_events(
        envelope(
            inbound(
                {
                    "type": "interactive",
                    "interactive": {
                        "type": "list_reply",
                        "list_reply": {"id": "cola", "title": "Cola", "description": "Cold"},
                    },
                }
            ),
            inbound(
                {
                    "id": "wamid.IN2",
                    "type": "interactive",
                    "interactive": {
                        "type": "nfm_reply",
                        "nfm_reply": {
                            "name": "flow",
                            "body": "Sent",
                            "response_json": '{"flow_token": "t", "slot": "9am"}',
                        },
                    },
                }
            ),
            inbound(
                {
                    "id": "wamid.IN3",
                    "type": "location",
                    "location": {"latitude": 19.07, "longitude": "72.87", "name": "Home"},
                }
            ),
            inbound({"id": "wamid.IN4", "type": "text", "text": {"body": "hello"}}),
        )
    )
    listed, flow, location, text = events
    assert isinstance(listed, ListReply)
    assert (listed.id, listed.description) == ("cola", "Cold")
    assert isinstance(flow, FlowReply)
    assert flow.response == {"flow_token": "t", "slot": "9am"}
    assert flow.name == "flow"
    assert isinstance(location, LocationReply)
    assert (location.latitude, location.longitude, location.name) == (19.07, 72.87, "Home")
    assert isinstance(text, InboundMessage)
    assert (text.type, text.text) == ("text", "hello")


@pytest.mark.parametrize(
    "failure",
    [
        {"code": 131047, "reason": "Re-engagement message"},
        {"errors": [{"code": 131047, "title": "Re-engagement message", "href": "x"}]},
        {"errors": [{"code": "131047", "message": "Re-engagement message"}]},
    ],
)
def test_failed_status_reads_either_error_form(failure: dict[str, Any]) -> None:
    status = {
        "id": "gs-42",
        "gs_id": "g-1",
        "status": "failed",
        "timestamp": "1732500001",
        "recipient_id": "919876543210",
        **failure,
    }
    [event] = parse_events(envelope({"statuses": [status]}))
    assert isinstance(event, StatusUpdate)
    assert (event.message_id, event.status, event.recipient) == ("gs-42", "failed", "919876543210")
    assert (event.error_code, event.error_title) == (131047, "Re-engagement message")
    assert event.identity == ("status", "gs-42", "failed")


def test_statuses_of_every_kind() -> None:
    statuses = [
        {"id": f"gs-{s}", "status": s, "timestamp": "1", "recipient_id": "1"}
        for s in ("enqueued", "sent", "delivered", "read")
    ]
    events = parse_events(envelope({"statuses": statuses}))
    assert [e.status for e in events if isinstance(e, StatusUpdate)] == [
        "enqueued",
        "sent",
        "delivered",
        "read",
    ]


def test_connectivity_check_and_unknown_events() -> None:
    check = {"type": "connectivity-check", "timestamp": 1}
    events = parse_events(envelope(check, field="platform-event"))
    assert events == [ConnectivityCheck(check)]
    assert parse_events({"field": "platform-event", "value": check}) == [ConnectivityCheck(check)]
    [unknown] = parse_events(envelope({"anything": 1}, field="account_update"))
    assert isinstance(unknown, UnknownEvent)
    assert unknown.raw["value"] == {"anything": 1}


def test_duplicate_deliveries_have_the_same_identity() -> None:
    body = envelope(inbound({"type": "text", "text": {"body": "hi"}}))
    first, second = parse_events(body)[0], parse_events(json.dumps(body))[0]
    assert first.identity == second.identity
    assert len({e.identity for e in (first, second)}) == 1


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[1, 2]", b'{"hello": "world"}', b'{"entry": 5}']
)
def test_a_body_that_is_not_an_envelope_raises_clearly(body: bytes) -> None:
    with pytest.raises(WebhookError):
        parse_events(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.lists(st.dictionaries(st.sampled_from(["field", "value", "x"]), json_values), max_size=3))
def test_any_shape_inside_an_envelope_never_raises(changes: list[dict[str, Any]]) -> None:
    body = {"entry": [{"changes": changes}, {"no": "changes"}, 7]}
    events = parse_events(body)
    assert all(hasattr(e, "identity") for e in events)


def _messages_body(*messages: dict[str, object], **value: object) -> bytes:
    change = {"field": "messages", "value": {"messaging_product": "whatsapp", **value}}
    if messages:
        change["value"]["messages"] = list(messages)  # type: ignore[index]
    envelope = {"object": "whatsapp_business_account", "entry": [{"changes": [change]}]}
    return json.dumps(envelope).encode()


def _nested(depth: int) -> object:
    node: object = []
    for _ in range(depth):
        node = [node]
    return node


def test_a_body_nested_100000_deep_is_a_webhook_error_not_a_crash() -> None:
    with pytest.raises(WebhookError, match="nested deeper"):
        parse_events(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(WebhookError, match="nested deeper"):
        parse_events(json.dumps({"entry": [{"a": _nested(80)}]}))


def test_a_ten_megabyte_body_is_refused_unparsed() -> None:
    with pytest.raises(WebhookError, match="larger than"):
        parse_events(b'{"entry": [' + b" " * 10_000_000 + b"]}")


SENDER = {"from": "919876543210", "timestamp": "1764000000"}


def test_timestamps_in_milliseconds_become_seconds() -> None:
    text = {**SENDER, "id": "wamid.1", "timestamp": "1764000000123", "type": "text"}
    [event] = parse_events(_messages_body({**text, "text": {"body": "hi"}}))
    assert isinstance(event, InboundMessage)
    assert event.timestamp == 1764000000


def test_new_inbound_kinds_are_typed() -> None:
    button = {"payload": "stop-promos", "text": "Stop"}
    order = {
        "catalog_id": "c1",
        "text": "for Friday",
        "product_items": [{"product_retailer_id": "sku-1", "quantity": 2}],
    }
    permission = {"response": "accept", "expiration_timestamp": 1764600000}
    body = _messages_body(
        {**SENDER, "id": "m1", "type": "button", "button": button},
        {**SENDER, "id": "m2", "type": "order", "order": order},
        {**SENDER, "id": "m3", "type": "contacts", "contacts": [{"name": {"first_name": "A"}}]},
        {
            **SENDER,
            "id": "m4",
            "type": "interactive",
            "interactive": {"type": "call_permission_reply", "call_permission_reply": permission},
        },
        errors=[{"code": 131000, "title": "Something went wrong"}],
    )
    tap, placed, shared, answer, error = parse_events(body)
    assert isinstance(tap, TemplateButtonReply)
    assert tap.payload == "stop-promos"
    assert isinstance(placed, OrderReceived)
    assert placed.items[0]["quantity"] == 2
    assert isinstance(shared, ContactsShared)
    assert shared.contacts[0]["name"] == {"first_name": "A"}
    assert isinstance(answer, CallPermissionReply)
    assert answer.accepted
    assert answer.expires == 1764600000
    assert isinstance(error, ErrorNotice)
    assert error.code == 131000


def test_a_user_known_by_business_scoped_id_is_the_sender() -> None:
    user = "US.1349120865530274"
    message = {"from_user_id": user, "id": "m1", "type": "text", "text": {"body": "hi"}}
    [event] = parse_events(_messages_body(message, contacts=[{"user_id": user}]))
    assert isinstance(event, InboundMessage)
    assert event.sender == user
    assert event.user_id == user


def test_a_message_from_nobody_is_kept_raw_never_given_an_empty_sender() -> None:
    [event] = parse_events(_messages_body({"id": "m1", "type": "text", "text": {"body": "hi"}}))
    assert isinstance(event, UnknownEvent)
    assert event.raw["id"] == "m1"
