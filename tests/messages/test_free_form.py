"""Text, media, reaction, location and contacts messages: Meta's documented request examples read
and written back unchanged, every documented limit refused with its path, inputs never changed,
and each type sent through the client to the sandbox, which checks them as Gupshup would.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gupshup_async import (
    AudioMessage,
    ContactsMessage,
    DocumentMessage,
    GupshupClient,
    ImageMessage,
    LocationMessage,
    Message,
    ReactionMessage,
    StickerMessage,
    TextMessage,
    ValidationError,
    VideoMessage,
    build_payload,
    parse_message,
)
from gupshup_async.messages import FREE_FORM_TYPES
from gupshup_async.sandbox import Sandbox

META = Path(__file__).parents[1] / "data" / "meta-openapi-messages"
# Meta's placeholders, made concrete.
CONCRETE = {
    "{{Recipient-Phone-Number}}": "+16505551234",
    "<http(s)://document-url>": "https://example.com/menu.pdf",
    "<DOCUMENT-CAPTION-TEXT>": "Our menu",
    "http(s)://image-url": "https://example.com/dish.jpg",
    "<http(s)://sticker-url>": "https://example.com/thanks.webp",
}


def concrete(node: Any) -> Any:
    if isinstance(node, str):
        return CONCRETE.get(node, node)
    if isinstance(node, dict):
        return {key: concrete(value) for key, value in node.items()}
    if isinstance(node, list):
        return [concrete(value) for value in node]
    return node


EXAMPLES = sorted(p.name for p in META.glob("send_*.json") if "template" not in p.name)


@pytest.mark.parametrize("name", EXAMPLES)
def test_metas_examples_are_read_and_written_back_unchanged(name: str) -> None:
    document = concrete(json.loads((META / name).read_text()))
    given = copy.deepcopy(document)
    message = parse_message(document)
    assert document == given  # the input is never changed
    kind = message.PAYLOAD
    assert kind in FREE_FORM_TYPES
    assert build_payload(document["to"], message)[kind] == document[kind]
    assert parse_message({"type": kind, kind: message.to_json()}) == message


def test_every_free_form_type_has_an_example_of_metas_or_one_here() -> None:
    covered = {
        parse_message(concrete(json.loads((META / n).read_text()))).PAYLOAD for n in EXAMPLES
    }
    assert covered | {"video", "audio"} == set(FREE_FORM_TYPES)
    for message in (VideoMessage("https://example.com/a.mp4"), AudioMessage(id="1013859600285441")):
        assert (
            parse_message({"type": message.PAYLOAD, message.PAYLOAD: message.to_json()}) == message
        )


def test_unknown_fields_survive_the_round_trip() -> None:
    body = {"body": "Hi", "preview_url": False, "future_field": {"x": 1}}
    message = parse_message({"type": "text", "text": body})
    assert message.to_json() == body


def test_what_each_type_writes() -> None:
    assert build_payload("+91 98765 43210", TextMessage("Hi *there*"))["text"] == {
        "body": "Hi *there*"
    }
    assert ImageMessage(id="4490709327384033", caption="Receipt").to_json() == {
        "id": "4490709327384033",
        "caption": "Receipt",
    }
    assert DocumentMessage("https://example.com/i.pdf", filename="invoice.pdf").to_json() == {
        "link": "https://example.com/i.pdf",
        "filename": "invoice.pdf",
    }
    assert ReactionMessage.remove("wamid.HBgL").to_json() == {
        "message_id": "wamid.HBgL",
        "emoji": "",
    }
    assert ContactsMessage.card("Asha Rao", "+91 98765 43210").to_json() == [
        {"name": {"formatted_name": "Asha Rao"}, "phones": [{"phone": "+91 98765 43210"}]}
    ]
    assert LocationMessage(12.9716, 77.5946, name="MG Road").to_json() == {
        "latitude": 12.9716,
        "longitude": 77.5946,
        "name": "MG Road",
    }


@pytest.mark.parametrize(
    ("make", "path", "says"),
    [
        (lambda: TextMessage(""), "text.body", "must not be empty"),
        (lambda: TextMessage("x" * 4097), "text.body", "at most 4096 characters"),
        (lambda: TextMessage("Hi", preview_url="yes"), "text.preview_url", "true or false"),
        (lambda: ImageMessage(), "image", "exactly one of 'id' or 'link'"),
        (lambda: ImageMessage("https://a.test/x.png", id="1"), "image", "exactly one"),
        (lambda: ImageMessage("ftp://a.test/x.png"), "image.link", "https:// or http://"),
        (lambda: VideoMessage(id=" 12"), "video.id", "whitespace"),
        (lambda: ImageMessage("https://a.test/x.png", caption="c" * 1025), "image.caption", "1024"),
        (lambda: DocumentMessage(id="1", filename=""), "document.filename", "empty"),
        (lambda: ReactionMessage("", "👍"), "reaction.message_id", "empty"),
        (lambda: ReactionMessage("wamid.1", "ok"), "reaction.emoji", "not text"),
        (lambda: ReactionMessage("wamid.1", "👍" * 11), "reaction.emoji", "one emoji"),
        (lambda: LocationMessage(90.5, 0), "location.latitude", "from -90 to 90"),
        (lambda: LocationMessage(0, -181), "location.longitude", "from -180 to 180"),
        (lambda: LocationMessage("north", 0), "location.latitude", "must be a number"),
        (lambda: LocationMessage(float("nan"), 0), "location.latitude", "from -90"),
        (lambda: ContactsMessage([]), "contacts", "1 to 5 contacts, got 0"),
        (lambda: ContactsMessage([{"name": {"formatted_name": "A"}}] * 6), "contacts", "got 6"),
        (lambda: ContactsMessage([{"phones": []}]), "contacts[0].name", "is required"),
        (lambda: ContactsMessage([{"name": {}}]), "contacts[0].name.formatted_name", "required"),
        (
            lambda: ContactsMessage([{"name": {"formatted_name": "A"}, "phones": [{}]}]),
            "contacts[0].phones[0].phone",
            "is required",
        ),
        (
            lambda: ContactsMessage([{"name": {"formatted_name": "A"}, "birthday": "18-08-2012"}]),
            "contacts[0].birthday",
            "YYYY-MM-DD",
        ),
    ],
)
def test_each_documented_limit_is_refused_with_its_path(make: Any, path: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make()
    assert refused.value.path == path
    assert says in str(refused.value)


def test_audio_and_stickers_take_no_caption_and_reading_one_says_where() -> None:
    with pytest.raises(TypeError):
        AudioMessage(id="1", caption="no")  # type: ignore[call-arg]
    with pytest.raises(ValidationError) as refused:
        parse_message({"type": "image", "image": "https://a.test/x.png"})
    assert refused.value.path == "image"
    with pytest.raises(ValidationError) as refused:
        parse_message({"type": "text"})
    assert refused.value.path == "text"


def test_a_contact_card_given_is_copied_not_kept() -> None:
    card = {"name": {"formatted_name": "Asha"}, "phones": [{"phone": "+91 98765 43210"}]}
    message = ContactsMessage([card])
    card["phones"].append({"phone": "+1 650 555 1234"})
    assert message.to_json()[0]["phones"] == [{"phone": "+91 98765 43210"}]
    written = message.to_json()
    written[0]["name"]["formatted_name"] = "changed"
    assert message.contacts[0]["name"]["formatted_name"] == "Asha"


ALL_TYPES: list[Message] = [
    TextMessage("Your order shipped: https://example.com/t/42", preview_url=True),
    ImageMessage("https://example.com/receipt.jpg", caption="Your receipt"),
    VideoMessage(id="1166846181421424", caption="How to set it up"),
    AudioMessage("https://example.com/note.ogg"),
    DocumentMessage("https://example.com/invoice.pdf", caption="Invoice", filename="invoice.pdf"),
    StickerMessage(id="798882015472548"),
    ReactionMessage("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "👍"),
    LocationMessage(12.9716, 77.5946, name="MG Road", address="Bengaluru"),
    ContactsMessage.card("Support", "+91 80 4567 8900", email="help@example.com"),
]


async def test_every_type_is_sent_through_the_client_and_taken_by_the_sandbox() -> None:
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            results = [await client.send("+91 98765 43210", m) for m in ALL_TYPES]
    assert all(r.message_id for r in results)
    kinds = [p.interactive_type for p in sandbox.account.processed]
    assert kinds == [m.PAYLOAD for m in ALL_TYPES]
    assert sandbox.account.processed[0].body_text == ALL_TYPES[0].body  # type: ignore[union-attr]


async def test_the_sandbox_refuses_what_whatsapp_would_in_a_free_form_body() -> None:
    import httpx

    async with Sandbox() as sandbox:
        bad = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "919876543210",
            "type": "image",
            "image": {"link": "https://a.test/x.png", "id": "1"},
        }
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{sandbox.base_url}/partner/app/{sandbox.app_id}/v3/message",
                json=bad,
                headers={"Authorization": sandbox.token},
            )
    assert answer.status_code == 400
    assert "exactly one of 'id' or 'link'" in answer.text
    assert sandbox.account.processed == []


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"type": "text", "text": {"preview_url": True}}, "text.body"),
        ({"type": "reaction", "reaction": {"emoji": "👍"}}, "reaction.message_id"),
        ({"type": "reaction", "reaction": {"message_id": "w", "emoji": 5}}, "reaction.emoji"),
        ({"type": "location", "location": {"longitude": 1}}, "location.latitude"),
        (
            {"type": "location", "location": {"latitude": "north", "longitude": 1}},
            "location.latitude",
        ),
        ({"type": "contacts", "contacts": "Asha"}, "contacts"),
        ({"type": "contacts", "contacts": ["Asha"]}, "contacts[0]"),
        ({"type": "contacts", "contacts": [{"name": "Asha"}]}, "contacts[0].name"),
        (
            {
                "type": "contacts",
                "contacts": [{"name": {"formatted_name": "A"}, "emails": "a@b.c"}],
            },
            "contacts[0].emails",
        ),
        (
            {"type": "contacts", "contacts": [{"name": {"formatted_name": "A"}, "urls": ["x"]}]},
            "contacts[0].urls[0]",
        ),
        (
            {"type": "contacts", "contacts": [{"name": {"formatted_name": "A"}, "org": "Acme"}]},
            "contacts[0].org",
        ),
        (
            {"type": "contacts", "contacts": [{"name": {"formatted_name": "A", "first_name": ""}}]},
            "contacts[0].name.first_name",
        ),
        (
            {"type": "contacts", "contacts": [{"name": {"formatted_name": "A"}, "birthday": 2012}]},
            "contacts[0].birthday",
        ),
    ],
)
def test_reading_a_bad_body_says_where(document: dict[str, Any], path: str) -> None:
    given = copy.deepcopy(document)
    with pytest.raises(ValidationError) as refused:
        parse_message(document)
    assert refused.value.path == path
    assert document == given


def test_coordinates_written_as_strings_are_read_and_kept_as_written() -> None:
    body = {"latitude": "12.9716", "longitude": "77.5946", "name": "MG Road"}
    message = parse_message({"type": "location", "location": body})
    assert isinstance(message, LocationMessage)
    assert (message.latitude, message.longitude) == (12.9716, 77.5946)
    assert message.to_json() == body
