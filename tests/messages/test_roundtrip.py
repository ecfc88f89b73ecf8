"""JSON out and back in: lossless both ways."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from gupshup_async import (
    ButtonMessage,
    CarouselCard,
    CarouselMessage,
    ImageHeader,
    ListMessage,
    Message,
    ValidationError,
    parse_interactive,
)
from gupshup_async._examples import EXAMPLES
from gupshup_async.messages import MESSAGE_TYPES

# A copy of ../shared/reference/meta-openapi-examples (MIT, see its LICENSE).
META_EXAMPLES = Path(__file__).parents[1] / "data" / "meta-openapi-examples"


def test_every_type_has_an_example() -> None:
    assert sorted(EXAMPLES) == sorted(cls.TYPE for cls in MESSAGE_TYPES)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_message_round_trips(kind: str) -> None:
    message = EXAMPLES[kind]
    document = message.to_interactive()
    assert document["type"] == kind
    assert parse_interactive(document) == message
    assert parse_interactive(document).to_interactive() == document


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_document_is_plain_json(kind: str) -> None:
    document = EXAMPLES[kind].to_interactive()
    assert json.loads(json.dumps(document)) == document


def test_button_message_is_metas_shape() -> None:
    message = ButtonMessage("Pick one", [("a", "Alpha"), ("b", "Beta")], footer="Thanks")
    assert message.to_interactive() == {
        "type": "button",
        "body": {"text": "Pick one"},
        "footer": {"text": "Thanks"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "a", "title": "Alpha"}},
                {"type": "reply", "reply": {"id": "b", "title": "Beta"}},
            ]
        },
    }


def test_carousel_card_shapes() -> None:
    image = ImageHeader("https://cdn.example.com/a.png")
    urls = CarouselMessage(
        "Pick",
        [
            CarouselCard(image, display_text="Open", url="https://example.com/1"),
            CarouselCard(image, "Second", display_text="Open", url="https://example.com/2"),
        ],
    ).to_interactive()
    assert urls["action"]["cards"][1] == {
        "card_index": 1,
        "type": "cta_url",
        "header": {"type": "image", "image": {"link": "https://cdn.example.com/a.png"}},
        "body": {"text": "Second"},
        "action": {
            "name": "cta_url",
            "parameters": {"display_text": "Open", "url": "https://example.com/2"},
        },
    }
    replies = CarouselMessage(
        "Pick", [CarouselCard(image, buttons=["Yes"]), CarouselCard(image, buttons=["No"])]
    ).to_interactive()
    assert replies["action"]["cards"][0]["type"] == "cta_url"  # as Meta documents it
    assert replies["action"]["cards"][0]["action"] == {
        "buttons": [{"type": "quick_reply", "quick_reply": {"id": "Yes", "title": "Yes"}}]
    }


# Meta's documented quick-reply media carousel ("Interactive media carousel messages").
META_QUICK_REPLY_CAROUSEL = {
    "type": "carousel",
    "body": {"text": "Which of these would you like?"},
    "action": {
        "cards": [
            {
                "card_index": i,
                "type": "cta_url",
                "header": {"type": "image", "image": {"link": f"https://example.com/{i}.png"}},
                "body": {"text": f"Option {i}\nIn stock"},
                "action": {
                    "buttons": [
                        {"type": "quick_reply", "quick_reply": {"id": f"buy-{i}", "title": "Buy"}},
                        {
                            "type": "quick_reply",
                            "quick_reply": {"id": f"more-{i}", "title": "More"},
                        },
                    ]
                },
            }
            for i in range(2)
        ]
    },
}


def test_metas_quick_reply_carousel_round_trips_exactly() -> None:
    message = parse_interactive(META_QUICK_REPLY_CAROUSEL)
    assert isinstance(message, CarouselMessage)
    assert [card.kind for card in message.cards] == ["quick_reply", "quick_reply"]
    assert message.to_interactive() == META_QUICK_REPLY_CAROUSEL


def test_the_old_button_card_type_is_read_and_kept_on_a_round_trip() -> None:
    old = copy.deepcopy(META_QUICK_REPLY_CAROUSEL)
    for card in old["action"]["cards"]:  # type: ignore[index]
        card["type"] = "button"
    assert parse_interactive(old).to_interactive() == old


def test_a_card_body_with_three_line_breaks_is_refused_where_it_is() -> None:
    broken = copy.deepcopy(META_QUICK_REPLY_CAROUSEL)
    broken["action"]["cards"][1]["body"]["text"] = "a\nb\nc\nd"  # type: ignore[index]
    with pytest.raises(ValidationError) as caught:
        parse_interactive(broken)
    assert caught.value.path == "interactive.action.cards[1].body.text"
    assert "at most 2 line breaks, got 3" in str(caught.value)


def test_keys_only_for_what_is_set() -> None:
    document = ListMessage("Body", "Menu", [("a", "A")]).to_interactive()
    assert document == {
        "type": "list",
        "body": {"text": "Body"},
        "action": {"button": "Menu", "sections": [{"rows": [{"id": "a", "title": "A"}]}]},
    }


def _usable_meta_examples() -> list[Path]:
    found = []
    for path in sorted(META_EXAMPLES.glob("*.json")):
        if "<HEADER_TYPE>" not in path.read_text():
            found.append(path)
    return found


def test_metas_published_examples_round_trip() -> None:
    paths = _usable_meta_examples()
    assert {path.stem for path in paths} >= {
        "send_order_details_message",
        "send_order_status_message",
    }
    assert len(paths) >= 11
    for path in paths:
        document = json.loads(path.read_text())["interactive"]
        assert parse_interactive(document).to_interactive() == document, path.name


def test_unknown_fields_survive_at_every_level() -> None:
    document = EXAMPLES["list"].to_interactive()
    document["future_flag"] = True
    document["body"]["locale"] = "en"
    document["action"]["sections"][0]["rows"][0]["media"] = {"id": "42"}
    document["action"]["sections"][1]["badge"] = "new"
    parsed = parse_interactive(document)
    assert parsed.to_interactive() == document
    # The overlay belongs to the part it was read with, so editing the message keeps it.
    assert parsed.sections[0].rows[0].extra == {"media": {"id": "42"}}
    assert parsed.extra == {"future_flag": True, "body": {"locale": "en"}}


def test_unknown_fields_in_buttons_and_cards_survive() -> None:
    for kind, pointer in (("button", ("buttons", 0)), ("carousel", ("cards", 1))):
        document = EXAMPLES[kind].to_interactive()
        document["action"][pointer[0]][pointer[1]]["x_custom"] = [1, 2]
        assert parse_interactive(document).to_interactive() == document


def test_json_types_are_not_confused() -> None:
    # 1 == True in Python; in JSON they differ, and so must the documents.
    document = EXAMPLES["voice_call"].to_interactive()
    document["action"]["parameters"]["x_flag"] = 1
    reread = parse_interactive(document).to_interactive()
    assert reread["action"]["parameters"]["x_flag"] == 1
    assert type(reread["action"]["parameters"]["x_flag"]) is int


def test_to_interactive_gives_fresh_objects() -> None:
    message = parse_interactive({**EXAMPLES["button"].to_interactive(), "x": {"deep": [1]}})
    first = message.to_interactive()
    first["x"]["deep"].append(2)
    first["action"]["buttons"].clear()
    assert message.to_interactive()["x"] == {"deep": [1]}
    assert len(message.to_interactive()["action"]["buttons"]) == 3


def test_unsupported_type_is_refused_clearly() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_interactive({"type": "sticker_pack", "action": {}})
    assert caught.value.path == "interactive.type"
    assert "sticker_pack" in str(caught.value)


@pytest.mark.parametrize("document", [None, [], "button", 3])
def test_a_non_object_is_refused(document: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_interactive(document)  # type: ignore[arg-type]
    assert caught.value.path == "interactive"


def test_messages_are_hashable_and_frozen() -> None:
    message: Message = EXAMPLES["button"]
    assert hash(message) == hash(parse_interactive(message.to_interactive()))
    with pytest.raises(AttributeError):
        message.body = "changed"  # type: ignore[misc]
