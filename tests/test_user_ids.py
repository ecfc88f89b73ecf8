"""One person, several ids: phone numbers, business-scoped user ids and parent user ids, in
statuses, messages, system messages and ``user_id_update``; sends to a user id; the stores
knowing a person by whichever id they have. Bodies as Meta documents them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import respx

from gupshup_async import (
    GupshupClient,
    InboundMessage,
    MemoryWindowStore,
    RecipientMoved,
    StatusUpdate,
    SystemNotice,
    TemplateButtonReply,
    TemplateDefinitions,
    TemplateMessage,
    TextMessage,
    UnknownEvent,
    UserIdChange,
    UserOptedOut,
    ValidationError,
    parse_events,
)
from gupshup_async.messages import normalize_recipient
from gupshup_async.sandbox import Sandbox
from tests.conftest import Records, window_of

PHONE = "16505551234"
USER = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
NEW_USER = "US.99991208655302741918"


def change(field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": value}]}],
    }


def text_from(at: int, **sender: str) -> dict[str, Any]:
    message = {"id": f"wamid.in-{at}", "timestamp": str(at), "type": "text", "text": {"body": "Hi"}}
    contact: dict[str, Any] = {"profile": {"name": "Sheena"}}
    if "phone" in sender:
        message["from"] = sender["phone"]
        contact["wa_id"] = sender["phone"]
    if "user_id" in sender:
        message["from_user_id"] = sender["user_id"]
        contact["user_id"] = sender["user_id"]
    if "parent" in sender:
        message["from_parent_user_id"] = sender["parent"]
        contact["parent_user_id"] = sender["parent"]
    return change("messages", {"contacts": [contact], "messages": [message]})


def status(state: str, at: int, code: int | None = None, **to: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": f"wamid.out-{at}", "status": state, "timestamp": str(at)}
    if "phone" in to:
        entry["recipient_id"] = to["phone"]
    if "user_id" in to:
        entry["recipient_user_id"] = to["user_id"]
    if "parent" in to:
        entry["recipient_parent_user_id"] = to["parent"]
    if code is not None:
        entry["errors"] = [{"code": code, "title": "failed"}]
    value: dict[str, Any] = {"statuses": [entry]}
    if "contact_phone" in to:  # sent/delivered/read statuses carry a contacts block
        value["contacts"] = [{"wa_id": to["contact_phone"], "user_id": to["user_id"]}]
    return change("messages", value)


def user_id_update(previous: str, current: str, at: int) -> dict[str, Any]:
    return change(
        "user_id_update",
        {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550783881",
                "phone_number_id": "106540352242922",
            },
            "user_id_update": [
                {
                    "wa_id": PHONE,
                    "detail": "User ID changed",
                    "user_id": {"previous": previous, "current": current},
                    "parent_user_id": {"previous": PARENT, "current": "US.ENT.2"},
                    "timestamp": str(at),
                }
            ],
        },
    )


# Ids as they are written ------------------------------------------------------------------


def test_parent_user_ids_are_recipients_and_go_as_recipient() -> None:
    assert normalize_recipient(PARENT) == PARENT
    assert normalize_recipient(USER) == USER
    for bad in ("US.ENT.", "US..123", "us.ENT.123", "US.ENT.12 3", "US.ENT.ENT.1"):
        with pytest.raises(ValidationError) as refused:
            normalize_recipient(bad)
        assert refused.value.path == "to"


async def test_a_send_to_a_parent_user_id_names_it_as_meta_documents() -> None:
    base = "https://partner.example"
    with respx.mock(base_url=base, using="httpx") as api:
        route = api.post("/partner/app/app-1/v3/message").mock(
            return_value=httpx.Response(200, json={"messages": [{"id": "gs-1"}]})
        )
        async with GupshupClient("app-1", "token-1", base_url=base, rate_limit=None) as client:
            result = await client.send(PARENT, TextMessage("Hi"))
    assert result.to == PARENT
    body = json.loads(route.calls.last.request.content)
    assert body["recipient"] == PARENT
    assert "to" not in body


# Events carry every id --------------------------------------------------------------------


def test_a_status_by_user_id_gets_the_phone_from_its_contacts_block() -> None:
    [update] = parse_events(status("delivered", 10, user_id=USER, contact_phone=PHONE))
    assert isinstance(update, StatusUpdate)
    assert (update.recipient, update.user_id, update.phone) == (USER, USER, PHONE)
    [update] = parse_events(status("read", 11, phone=PHONE, user_id=USER, parent=PARENT))
    assert isinstance(update, StatusUpdate)
    assert (update.recipient, update.phone, update.parent_user_id) == (PHONE, PHONE, PARENT)


def test_a_message_carries_phone_user_id_and_parent_user_id() -> None:
    [message] = parse_events(text_from(5, phone=PHONE, user_id=USER, parent=PARENT))
    assert isinstance(message, InboundMessage)
    assert (message.sender, message.phone, message.user_id) == (PHONE, PHONE, USER)
    assert message.parent_user_id == PARENT
    [by_id] = parse_events(text_from(6, user_id=USER))  # a user with a username
    assert isinstance(by_id, InboundMessage)
    assert (by_id.sender, by_id.phone, by_id.user_id) == (USER, None, USER)


def test_a_user_id_change_as_a_system_message_and_as_user_id_update() -> None:
    body = change(
        "messages",
        {
            "messages": [
                {
                    "from_user_id": USER,
                    "id": "wamid.sys",
                    "timestamp": "1739321024",
                    "type": "system",
                    "system": {
                        "body": "User changed their user id",
                        "type": "user_changed_user_id",
                        "user_id": NEW_USER,
                        "previous_user_id": USER,
                        "parent_user_id": "US.ENT.2",
                        "previous_parent_user_id": PARENT,
                    },
                }
            ]
        },
    )
    [notice] = parse_events(body)
    assert isinstance(notice, SystemNotice)
    assert (notice.kind, notice.previous_user_id, notice.new_user_id) == (
        "user_changed_user_id",
        USER,
        NEW_USER,
    )
    assert (notice.previous_parent_user_id, notice.new_parent_user_id) == (PARENT, "US.ENT.2")
    [update] = parse_events(user_id_update(USER, NEW_USER, 1739321024))
    assert update == UserIdChange(
        USER, NEW_USER, 1739321024, PHONE, PARENT, "US.ENT.2", "User ID changed"
    )
    assert update.identity == ("user-id", USER, NEW_USER, "1739321024")
    [odd] = parse_events(change("user_id_update", {"user_id_update": [{"wa_id": PHONE}]}))
    assert isinstance(odd, UnknownEvent)  # nothing changed that it names: kept whole, never raised


# The stores know a person by any of their ids ---------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "kept"])
async def test_a_window_is_known_by_either_id_and_follows_a_user_id_change(
    records: Records, kind: str
) -> None:
    now = int(time.time())
    store = MemoryWindowStore() if kind == "memory" else records.windows()
    # A delivered status shows the phone and the user id are one person.
    store.record(parse_events(status("delivered", now - 100, user_id=USER, contact_phone=PHONE)))
    store.record(parse_events(text_from(now - 60, user_id=USER)))  # they write, by user id only
    assert (await window_of(store, PHONE)).is_open(now)  # a send to their phone knows it
    # A 131047 on a send to the phone closes it for the user id too.
    store.record(parse_events(status("failed", now - 30, code=131047, phone=PHONE)))
    assert (await window_of(store, USER)).closed_seen == now - 30
    store.record(parse_events(text_from(now - 10, phone=PHONE)))
    store.record(parse_events(user_id_update(USER, NEW_USER, now)))
    assert (await window_of(store, NEW_USER)).is_open(now)  # the window went with the new id
    assert (await window_of(store, NEW_USER)).last_inbound == now - 10
    if kind == "kept":
        store.close()  # type: ignore[attr-defined]


async def test_a_campaign_spares_a_user_who_opted_out_under_their_user_id(
    records: Records,
) -> None:
    """The preference names the user id only; the campaign sends to phone numbers; a status
    showed the two are one person. Their marketing template is not sent; a utility one is.
    """
    store = records.store()
    store.record_new([parse_events(status("delivered", 1, user_id=USER, contact_phone=PHONE))])
    stop = {"user_id": USER, "category": "marketing_messages", "value": "stop", "timestamp": 2}
    stop["wa_id"] = USER  # a user known only by user id is named by it
    store.record_new([parse_events(change("user_preferences", {"user_preferences": [stop]}))])
    store.close()
    templates = TemplateDefinitions.from_json(
        [
            {
                "name": "deals",
                "language": "en",
                "status": "APPROVED",
                "category": "MARKETING",
                "components": [{"type": "BODY", "text": "20% off"}],
            },
            {
                "name": "receipt",
                "language": "en",
                "status": "APPROVED",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Your receipt"}],
            },
        ]
    )
    async with (
        Sandbox(templates=templates) as sandbox,
        GupshupClient(
            sandbox.app_id,
            sandbox.token,
            base_url=sandbox.base_url,
            rate_limit=None,
            templates=templates,
        ) as client,
    ):
        items = [
            (f"+{PHONE}", TemplateMessage("deals", "en")),
            (f"+{PHONE}", TemplateMessage("receipt", "en")),
        ]
        outcomes = [o async for o in client.send_many(items, journal=records.journal())]
    assert isinstance(outcomes[0].error, UserOptedOut)
    assert outcomes[1].ok
    assert [p.template for p in sandbox.account.processed] == ["receipt"]


async def test_single_sends_follow_a_number_change_and_refuse_auth_templates_to_user_ids() -> None:
    templates = TemplateDefinitions.from_json(
        [
            {
                "name": "login_code",
                "language": "en",
                "status": "APPROVED",
                "category": "AUTHENTICATION",
                "components": [{"type": "BODY", "text": "{{1}} is your code"}],
            },
        ]
    )
    async with (
        Sandbox(templates=templates) as sandbox,
        GupshupClient(
            sandbox.app_id,
            sandbox.token,
            base_url=sandbox.base_url,
            rate_limit=None,
            templates=templates,
        ) as client,
    ):
        code = TemplateMessage("login_code", "en", body=["123456"])
        with pytest.raises(ValidationError) as refused:
            await client.send(USER, code)
        assert refused.value.path == "to"
        assert "131062" in str(refused.value)
        await client.send(PHONE, code)  # to the number it goes
        body = change(
            "messages",
            {
                "messages": [
                    {
                        "from": PHONE,
                        "id": "wamid.s",
                        "timestamp": "1",
                        "type": "system",
                        "system": {
                            "body": "changed",
                            "wa_id": "16505559999",
                            "type": "user_changed_number",
                        },
                    }
                ]
            },
        )
        for event in parse_events(body):
            client.learn(event)
        with pytest.raises(RecipientMoved) as moved:
            await client.send(PHONE, TextMessage("Hi"))
        assert moved.value.new == "16505559999"
        assert moved.value.attempts == 0
    assert [p.to for p in sandbox.account.processed] == [PHONE]


def test_a_quick_reply_tap_by_user_id_finds_the_message_sent_to_the_phone(
    records: Records,
) -> None:
    store = records.store()
    try:
        sent = status("delivered", 20, phone=PHONE, user_id=USER)
        store.record_new([parse_events(sent)])
        tap = change(
            "messages",
            {
                "contacts": [{"user_id": USER, "profile": {"name": "Sheena"}}],
                "messages": [
                    {
                        "from_user_id": USER,
                        "id": "wamid.tap",
                        "timestamp": "21",
                        "type": "button",
                        "button": {"payload": "track", "text": "Track it"},
                    }
                ],
            },
        )
        [event] = parse_events(tap)
        assert isinstance(event, TemplateButtonReply)
        found = store.answered(event)
        assert found is not None
        assert (found.wamid, found.recipient) == ("wamid.out-20", PHONE)
    finally:
        store.close()
