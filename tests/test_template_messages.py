"""Template messages: built, read back exactly, refused with the path of each fault, sent."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gupshup_async import (
    DocumentHeader,
    GupshupClient,
    ImageHeader,
    TemplateCard,
    TemplateCopyCode,
    TemplateCurrency,
    TemplateDateTime,
    TemplateFlowButton,
    TemplateLocation,
    TemplateMessage,
    TemplateQuickReply,
    TemplateText,
    TemplateUrlButton,
    ValidationError,
    build_payload,
    parse_message,
    parse_template,
)
from gupshup_async.testing import gupshup_mock

# The shapes of Meta's "Send message templates" page: media header, currency and date-time
# body parameters, then a quick reply, a URL suffix, a copy code and a flow button.
META_EXAMPLE: dict[str, Any] = {
    "name": "seasonal_promotion",
    "language": {"code": "en_US"},
    "components": [
        {
            "type": "header",
            "parameters": [{"type": "image", "image": {"link": "https://x.example/sale.png"}}],
        },
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Summer Sale"},
                {
                    "type": "currency",
                    "currency": {"fallback_value": "$100.99", "code": "USD", "amount_1000": 100990},
                },
                {"type": "date_time", "date_time": {"fallback_value": "February 25, 1977"}},
            ],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "unsubscribe"}],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": "1",
            "parameters": [{"type": "text", "text": "summer-2026"}],
        },
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "2",
            "parameters": [{"type": "coupon_code", "coupon_code": "SAVE25"}],
        },
        {
            "type": "button",
            "sub_type": "flow",
            "index": "3",
            "parameters": [
                {
                    "type": "action",
                    "action": {"flow_token": "tok-1", "flow_action_data": {"id": 7}},
                }
            ],
        },
    ],
}


def test_meta_s_example_reads_into_typed_parts_and_writes_back_unchanged() -> None:
    message = parse_template(META_EXAMPLE)
    assert message.name == "seasonal_promotion"
    assert message.language == "en_US"
    assert message.header == ImageHeader("https://x.example/sale.png")
    assert message.body == (
        TemplateText("Summer Sale"),
        TemplateCurrency("$100.99", "USD", 100990),
        TemplateDateTime("February 25, 1977"),
    )
    assert message.buttons == (
        TemplateQuickReply(0, "unsubscribe"),
        TemplateUrlButton(1, "summer-2026"),
        TemplateCopyCode(2, "SAVE25"),
        TemplateFlowButton(3, "tok-1", action_data={"id": 7}),
    )
    assert message.to_template() == META_EXAMPLE
    assert parse_template(message.to_template()) == message


def test_fields_we_do_not_model_survive_the_round_trip() -> None:
    document = copy.deepcopy(META_EXAMPLE)
    document["language"]["policy"] = "deterministic"
    document["components"].append({"type": "limited_time_offer", "parameters": []})
    document["components"][2]["index"] = 0  # a number where Meta's examples write "0"
    assert parse_template(document).to_template() == document


def test_the_request_body_says_template_and_is_made_once() -> None:
    message = TemplateMessage(
        "order_shipped",
        "en",
        header="A-4411",
        body=["Asha", "A-4411"],
        buttons=[TemplateQuickReply(0, "track-4411")],
    )
    payload = build_payload("+91 98765 43210", message, callback_data="run-1/item-9")
    assert payload["type"] == "template"
    assert payload["to"] == "919876543210"
    assert payload["biz_opaque_callback_data"] == "run-1/item-9"
    assert payload["template"]["components"][0] == {
        "type": "header",
        "parameters": [{"type": "text", "text": "A-4411"}],
    }
    assert parse_message(payload) == message
    assert json.loads(message.encoded()) == message.to_template()


def test_parse_message_reads_every_wrapping_of_either_kind() -> None:
    template = parse_template(META_EXAMPLE)
    assert parse_message(META_EXAMPLE) == template
    assert parse_message({"template": META_EXAMPLE}) == template
    assert parse_message({"type": "template", "template": META_EXAMPLE}) == template
    button = {
        "type": "button",
        "body": {"text": "Hi"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
    }
    assert parse_message(button).to_json() == button
    assert parse_message({"type": "interactive", "interactive": button}).to_json() == button


def test_named_parameters_come_from_a_mapping() -> None:
    message = TemplateMessage(
        "cart_reminder",
        "en",
        body={"first_name": "Asha", "discount": TemplateCurrency("10%", "INR", 0)},
    )
    assert message.named
    assert [p._json()["parameter_name"] for p in message.body] == ["first_name", "discount"]
    assert parse_template(message.to_template()) == message


def test_every_fault_is_refused_before_sending_with_its_path() -> None:
    with pytest.raises(ValidationError) as caught:
        TemplateMessage(
            "Order Shipped",
            "english",
            header=TemplateText("x" * 61),
            body=[
                "Asha\nRao",
                "five     spaces",
                TemplateCurrency("", "usd", 1.5),  # type: ignore[arg-type]
                TemplateText("a", name="Bad-Name"),
                42,  # type: ignore[list-item]
            ],
            buttons=[
                TemplateQuickReply(0, ""),
                TemplateUrlButton(1, "has space"),
                TemplateCopyCode(12, "MUCH-TOO-LONG-CODE"),
                TemplateQuickReply(0, "again"),
            ],
        )
    faults = {(p.path, p.message.split(",")[0]) for p in caught.value.errors}
    paths = {path for path, _ in faults}
    assert paths == {
        "template.name",
        "template.language.code",
        "template.components[0].parameters[0].text",
        "template.components[1].parameters[0].text",
        "template.components[1].parameters[1].text",
        "template.components[1].parameters[2].currency.fallback_value",
        "template.components[1].parameters[2].currency.code",
        "template.components[1].parameters[2].currency.amount_1000",
        "template.components[1].parameters[3].parameter_name",
        "template.components[1].parameters[4]",
        "template.components[1].parameters",  # named and positional mixed
        "template.components[2].parameters[0].payload",
        "template.components[3].parameters[0].text",
        "template.components[4].index",
        "template.components[4].parameters[0].coupon_code",
        "template.components[5].index",  # index 0 twice
    }
    assert "at most 60 characters" in str(caught.value)
    assert "132018" in str(caught.value)


def test_media_and_location_headers_are_checked_in_place() -> None:
    with pytest.raises(ValidationError) as caught:
        TemplateMessage("t", "en", header=DocumentHeader("ftp://x/y.pdf"))
    assert caught.value.path == "template.components[0].parameters[0].document.link"
    with pytest.raises(ValidationError) as caught:
        TemplateMessage("t", "en", header=TemplateLocation(91.0, 10.0))
    assert caught.value.path == "template.components[0].parameters[0].location.latitude"
    where = TemplateMessage("t", "en", header=TemplateLocation(12.9, 77.6, name="Store"))
    assert parse_template(where.to_template()) == where


def test_reading_refuses_bad_shapes_with_paths() -> None:
    broken = copy.deepcopy(META_EXAMPLE)
    broken["components"][1]["parameters"][0] = {"type": "emoji", "emoji": ":)"}
    broken["components"][2]["sub_type"] = "swipe"
    del broken["language"]
    with pytest.raises(ValidationError) as caught:
        parse_template(broken)
    assert {p.path for p in caught.value.errors} == {
        "template.language",
        "template.components[1].parameters[0].type",
        "template.components[2].sub_type",
    }


async def test_a_template_goes_through_send_and_the_mock_reads_it_back() -> None:
    message = parse_template(META_EXAMPLE)
    with gupshup_mock() as gupshup:
        async with GupshupClient("app-1", "token-123456", rate_limit=None) as client:
            result = await client.send("+91 98765 43210", message)
    assert gupshup.sent[0].message == message
    assert gupshup.sent[0].payload["type"] == "template"
    assert result.sent_instead is None


words = st.text(
    st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=30
).filter(lambda text: text.strip() == text)


@given(
    name=st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
    body=st.lists(words, max_size=5),
    payloads=st.lists(words, max_size=3, unique=True),
)
def test_any_valid_template_round_trips(name: str, body: list[str], payloads: list[str]) -> None:
    buttons = [TemplateQuickReply(i, p) for i, p in enumerate(payloads)]
    message = TemplateMessage(name, "pt_BR", body=body, buttons=buttons)
    assert parse_template(message.to_template()) == message
    assert parse_message(json.loads(json.dumps(build_payload("+14155550100", message)))) == message


links = st.from_regex(r"https://[a-z]{1,10}\.example/[a-z0-9]{1,10}\.(png|jpg)", fullmatch=True)
amounts = st.builds(
    TemplateCurrency,
    fallback_value=words,
    code=st.sampled_from(["USD", "INR", "BRL", "EUR"]),
    amount_1000=st.integers(-(10**9), 10**9),
)
parameters = st.one_of(st.builds(TemplateText, words), amounts, st.builds(TemplateDateTime, words))
headers = st.one_of(
    st.none(),
    st.builds(TemplateText, words.filter(lambda text: len(text) <= 60)),
    st.builds(ImageHeader, links),
    st.builds(
        TemplateLocation,
        st.floats(-90, 90, allow_nan=False),
        st.floats(-180, 180, allow_nan=False),
        name=st.none() | words,
    ),
)


@st.composite
def cards(draw: st.DrawFn) -> list[TemplateCard]:
    """2 to 4 cards with the same components, as Meta requires."""
    size = draw(st.integers(0, 3))
    quick = draw(st.booleans())
    made = []
    for n in range(draw(st.integers(2, 4))):
        buttons: list[Any] = [TemplateUrlButton(1, f"item-{n}")]
        if quick:
            buttons.insert(0, TemplateQuickReply(0, f"more-{n}"))
        made.append(
            TemplateCard(
                ImageHeader(draw(links)),
                body=draw(st.lists(parameters, min_size=size, max_size=size)),
                buttons=buttons,
            )
        )
    return made


@given(
    header=headers,
    body=st.lists(parameters, max_size=6),
    named=st.booleans(),
    carousel=st.one_of(st.just([]), cards()),
    code=st.none() | st.from_regex(r"[A-Z0-9]{1,15}", fullmatch=True),
)
def test_any_template_with_every_kind_of_part_round_trips_exactly(
    header: Any, body: list[Any], named: bool, carousel: list[TemplateCard], code: str | None
) -> None:
    if named:
        body = {f"p{i}": parameter for i, parameter in enumerate(body)}  # type: ignore[assignment]
    buttons = [TemplateCopyCode(0, code)] if code is not None else []
    message = TemplateMessage(
        "t", "en_US", header=header, body=body, buttons=buttons, cards=carousel
    )
    document = json.loads(json.dumps(message.to_template()))
    assert parse_template(document) == message
    assert parse_template(document).to_template() == document
