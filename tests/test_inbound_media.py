"""Inbound media, reactions and unsupported messages arrive typed, from Meta's documented
incoming examples, and open the user's 24-hour window like any message from them.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from gupshup_async import (
    MediaReceived,
    MemoryWindowStore,
    ReactionReceived,
    UnsupportedReceived,
    parse_events,
)

# Meta's OpenAPI incoming examples (ImageMessage_1, ReactionMessage_1, UnsupportedMessage).
IMAGE = {
    "from": "16505551234",
    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    "timestamp": "1744344496",
    "type": "image",
    "image": {
        "caption": "Taj Mahal",
        "mime_type": "image/jpeg",
        "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
        "id": "1003383421387256",
    },
}
REACTION = {
    "from": "16505551234",
    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    "timestamp": "1749419544",
    "type": "reaction",
    "reaction": {
        "message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA",
        "emoji": "\U0001f44d",
    },
}
UNSUPPORTED = {
    "from": "16505551234",
    "id": "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA",
    "timestamp": "1750090702",
    "errors": [
        {"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}
    ],
    "type": "unsupported",
}


def envelope(*messages: dict[str, Any]) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp", "messages": list(messages)}
    return {"entry": [{"changes": [{"field": "messages", "value": value}]}]}


def test_an_image_arrives_typed_with_every_field() -> None:
    [event] = parse_events(envelope(IMAGE))
    assert isinstance(event, MediaReceived)
    assert (event.kind, event.media_id, event.mime_type) == (
        "image",
        "1003383421387256",
        "image/jpeg",
    )
    assert event.caption == "Taj Mahal"
    assert event.sha256 == "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="
    assert (event.sender, event.timestamp) == ("16505551234", 1744344496)


@pytest.mark.parametrize(
    ("kind", "fields", "check"),
    [
        ("audio", {"voice": True}, lambda e: e.voice),
        ("document", {"filename": "receipt.pdf"}, lambda e: e.filename == "receipt.pdf"),
        ("sticker", {"animated": True}, lambda e: e.animated),
        ("video", {"caption": "My vacation"}, lambda e: e.caption == "My vacation"),
        (
            "image",
            {"url": "https://filemanager.gupshup.io/wa/abc"},
            lambda e: e.url.endswith("abc"),
        ),
    ],
)
def test_each_media_kind_keeps_what_is_its_own(
    kind: str, fields: dict[str, Any], check: Any
) -> None:
    media = {"id": "1013859600285441", "mime_type": "x/y", "sha256": "h", **fields}
    message = {key: value for key, value in IMAGE.items() if key != "image"}
    [event] = parse_events(envelope({**message, "type": kind, kind: media}))
    assert isinstance(event, MediaReceived)
    assert event.kind == kind
    assert check(event)


def test_a_reaction_and_its_removal() -> None:
    [reacted] = parse_events(envelope(REACTION))
    assert isinstance(reacted, ReactionReceived)
    assert reacted.reacted_to == REACTION["reaction"]["message_id"]  # type: ignore[index]
    assert reacted.emoji == "\U0001f44d"
    assert not reacted.removed
    removed = {**REACTION, "id": "wamid.2", "reaction": {"message_id": "wamid.1", "emoji": ""}}
    [taken_back] = parse_events(envelope(removed))
    assert isinstance(taken_back, ReactionReceived)
    assert taken_back.removed


def test_an_unsupported_message_says_why() -> None:
    [event] = parse_events(envelope(UNSUPPORTED))
    assert isinstance(event, UnsupportedReceived)
    assert (event.code, event.title) == (131051, "Message type unknown")


def test_media_and_reactions_open_the_window() -> None:
    windows = MemoryWindowStore()
    now = int(time.time())
    image = {**IMAGE, "from": "919876543210", "timestamp": str(now)}
    reaction = {**REACTION, "from": "919876543211", "timestamp": str(now)}
    windows.record(parse_events(envelope(image, reaction)))
    assert windows.window("919876543210").is_open(now)
    assert windows.window("919876543211").is_open(now)
