"""Around the message: a reply in context, your own callback tag, a user known by their
business-scoped id. Checked before sending, carried exactly, seen by the sandbox.
"""

from __future__ import annotations

import json

import pytest

from gupshup_async import (
    ButtonMessage,
    GupshupClient,
    Recipient,
    ValidationError,
    build_payload,
)
from gupshup_async.messages._payload import encode_payload
from gupshup_async.sandbox import Sandbox

MESSAGE = ButtonMessage("Table for two at 8pm?", [("yes", "Book it"), ("no", "Not now")])
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
USER_ID = "US.13491208655302741918"


def test_build_payload_carries_the_envelope_and_the_bytes_sent_say_the_same() -> None:
    body = build_payload("+91 98765 43210", MESSAGE, reply_to=WAMID, callback_data="c-1/i-7")
    assert body["context"] == {"message_id": WAMID}
    assert body["biz_opaque_callback_data"] == "c-1/i-7"
    assert body["to"] == "919876543210"
    from gupshup_async.messages._payload import Envelope

    sent = encode_payload("+91 98765 43210", MESSAGE, Envelope(WAMID, "c-1/i-7"))
    assert json.loads(sent) == body


def test_a_business_scoped_user_id_goes_in_recipient_not_to() -> None:
    body = build_payload(USER_ID, MESSAGE)
    assert body["recipient"] == USER_ID
    assert "to" not in body


@pytest.mark.parametrize(
    ("options", "path", "says"),
    [
        ({"callback_data": "x" * 513}, "biz_opaque_callback_data", "at most 512 characters"),
        ({"callback_data": ""}, "biz_opaque_callback_data", "must be text"),
        ({"reply_to": "  "}, "context.message_id", "must be a message id"),
    ],
)
def test_bad_envelope_options_are_refused_with_their_path(
    options: dict[str, str], path: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        build_payload("+91 98765 43210", MESSAGE, **options)
    assert caught.value.path == path
    assert says in str(caught.value)


async def test_send_carries_the_envelope_to_the_sandbox_and_reads_the_user_id() -> None:
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            replied = await client.send(
                "+91 98765 43210", MESSAGE, reply_to=WAMID, callback_data="campaign-9/item-1"
            )
            by_user_id = await client.send(USER_ID, MESSAGE)
            with pytest.raises(ValidationError):
                await client.send("+91 98765 43210", MESSAGE, callback_data="x" * 600)
    first, second = sandbox.account.processed
    assert (first.reply_to, first.callback_data) == (WAMID, "campaign-9/item-1")
    assert replied.message_id == first.message_id
    assert second.to == USER_ID
    assert by_user_id.user_id == USER_ID
    assert len(sandbox.account.processed) == 2  # the refused one never left


async def test_send_many_items_carry_their_own_envelope() -> None:
    items = [
        (Recipient(f"+9170000000{n:02d}", callback_data=f"spring/{n}"), MESSAGE) for n in range(5)
    ]
    items.append((Recipient("+917000000099", callback_data="x" * 513), MESSAGE))
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            outcomes = [o async for o in client.send_many(items)]
    assert sorted(p.callback_data or "" for p in sandbox.account.processed) == [
        f"spring/{n}" for n in range(5)
    ]
    [refused] = [o for o in outcomes if not o.ok]
    assert isinstance(refused.error, ValidationError)
    assert refused.error.path == "biz_opaque_callback_data"


async def test_the_sandbox_refuses_an_envelope_meta_would_refuse() -> None:
    import httpx

    body = json.loads(encode_payload("919876543210", MESSAGE))
    body["biz_opaque_callback_data"] = "x" * 600
    async with Sandbox() as sandbox, httpx.AsyncClient(base_url=sandbox.base_url) as http:
        answer = await http.post(
            f"/partner/app/{sandbox.app_id}/v3/message",
            json=body,
            headers={"Authorization": sandbox.token},
        )
    assert answer.status_code == 400
    assert "biz_opaque_callback_data" in answer.text
    assert sandbox.account.processed == []
