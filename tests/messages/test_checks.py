"""The rules beyond counts and lengths, and how problems are reported."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from gupshup_async import (
    AddressMessage,
    ButtonMessage,
    CarouselCard,
    CarouselMessage,
    CatalogMessage,
    CtaUrlMessage,
    DocumentHeader,
    FlowMessage,
    GupshupError,
    ImageHeader,
    ListMessage,
    LocationRequestMessage,
    ProductListMessage,
    ProductMessage,
    ProductSection,
    Row,
    Section,
    TextHeader,
    ValidationError,
    VideoHeader,
    parse_interactive,
)
from gupshup_async._examples import EXAMPLES

IMAGE = ImageHeader("https://cdn.example.com/a.png")


def problems(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return {p.path: p.message for p in excinfo.value.errors}


def test_validation_error_is_a_value_error_and_a_gupshup_error() -> None:
    with pytest.raises(ValueError, match=r"interactive\.body\.text") as caught:
        ButtonMessage("", ["OK"])
    assert isinstance(caught.value, GupshupError)
    assert not caught.value.transient
    assert not caught.value.ambiguous


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        ButtonMessage("", [("a", "x" * 21), ("a", "Two"), (" b", "Three"), "Four"], footer="")
    found = problems(caught)
    assert set(found) == {
        "interactive.body.text",
        "interactive.footer.text",
        "interactive.action.buttons",
        "interactive.action.buttons[0].reply.title",
        "interactive.action.buttons[1].reply.id",
        "interactive.action.buttons[2].reply.id",
    }
    assert "at most 20 characters, got 21" in found["interactive.action.buttons[0].reply.title"]
    assert (
        "already used at interactive.action.buttons[0].reply.id"
        in found["interactive.action.buttons[1].reply.id"]
    )
    assert "whitespace" in found["interactive.action.buttons[2].reply.id"]
    assert str(caught.value).startswith("6 problems:")


def test_the_value_found_is_quoted_but_kept_short() -> None:
    with pytest.raises(ValidationError) as caught:
        ButtonMessage("x" * 5000, ["OK"])
    message = str(caught.value)
    assert "got 5000" in message
    assert len(message) < 200


def test_button_titles_are_unique() -> None:
    with pytest.raises(ValidationError) as caught:
        ButtonMessage("Body", [("a", "Same"), ("b", "Same")])
    assert caught.value.path == "interactive.action.buttons[1].reply.title"


def test_row_ids_are_unique_across_sections() -> None:
    with pytest.raises(ValidationError) as caught:
        ListMessage("Body", "Menu", [Section("A", [("x", "One")]), Section("B", [("x", "Two")])])
    assert caught.value.path == "interactive.action.sections[1].rows[0].id"


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_empty_and_blank_strings_are_refused(blank: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ListMessage("Body", blank, [("a", blank)])
    assert set(problems(caught)) == {
        "interactive.action.button",
        "interactive.action.sections[0].rows[0].title",
    }


def test_section_title_is_required_when_there_are_several() -> None:
    ListMessage("Body", "Menu", [Section(None, [("a", "A")])])
    with pytest.raises(ValidationError) as caught:
        ListMessage("Body", "Menu", [Section(None, [("a", "A")]), Section("B", [("b", "B")])])
    assert problems(caught) == {"interactive.action.sections[0].title": "is required"}


def test_every_section_has_a_row() -> None:
    with pytest.raises(ValidationError) as caught:
        ListMessage("Body", "Menu", [Section("A", [("a", "A")]), Section("B", [])])
    assert caught.value.path == "interactive.action.sections[1].rows"


def test_media_needs_exactly_one_of_id_and_link() -> None:
    for header in (ImageHeader(), ImageHeader("https://x.example/a.png", id="1")):
        with pytest.raises(ValidationError) as caught:
            ButtonMessage("Body", ["OK"], header=header)
        assert caught.value.path == "interactive.header.image"
        assert "exactly one of 'id' or 'link'" in str(caught.value)


@pytest.mark.parametrize(
    "link", ["ftp://cdn.example.com/a.png", "cdn.example.com/a.png", "https://", "https://a b"]
)
def test_media_links_are_absolute_web_urls(link: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ButtonMessage("Body", ["OK"], header=VideoHeader(link))
    assert caught.value.path == "interactive.header.video.link"


def test_media_links_may_be_http_as_metas_openapi_says() -> None:
    header = ButtonMessage("Body", ["OK"], header=VideoHeader("http://cdn.example.com/a.mp4"))
    assert header.to_interactive()["header"]["video"] == {"link": "http://cdn.example.com/a.mp4"}


def test_cta_url_must_be_a_web_url() -> None:
    CtaUrlMessage("Body", "Open", "http://example.com/a")
    with pytest.raises(ValidationError) as caught:
        CtaUrlMessage("Body", "Open", "javascript:alert(1)")
    assert caught.value.path == "interactive.action.parameters.url"


def test_flow_needs_exactly_one_of_id_and_name() -> None:
    FlowMessage("Body", "Open", flow_name="signup")
    for fields in ({}, {"flow_id": "1", "flow_name": "signup"}):
        with pytest.raises(ValidationError) as caught:
            FlowMessage("Body", "Open", **fields)
        assert caught.value.path == "interactive.action.parameters"


def test_flow_choices_and_payload_rules() -> None:
    with pytest.raises(ValidationError) as caught:
        FlowMessage(
            "Body",
            "Open",
            flow_id="1",
            mode="live",
            flow_action="data_exchange",
            screen="START",
            data={},
            flow_message_version="2",
        )
    found = problems(caught)
    where = "interactive.action.parameters"
    assert set(found) == {
        f"{where}.mode",
        f"{where}.flow_action_payload",
        f"{where}.flow_action_payload.data",
        f"{where}.flow_message_version",
    }
    assert "draft, published" in found[f"{where}.mode"]


def test_flow_data_without_a_screen_opens_the_first_screen() -> None:
    # Meta's OpenAPI: screen is optional; the flow starts at its FIRST_ENTRY_SCREEN.
    message = FlowMessage("Body", "Open", flow_id="1", data={"a": 1})
    payload = message.to_interactive()["action"]["parameters"]["flow_action_payload"]
    assert payload == {"data": {"a": 1}}
    assert parse_interactive(message.to_interactive()) == message


def test_flow_data_must_be_json() -> None:
    with pytest.raises(ValidationError, match="JSON values only"):
        FlowMessage("Body", "Open", flow_id="1", screen="S", data={"when": object()})


@pytest.mark.parametrize(
    ("make", "allowed"),
    [
        (lambda h: ListMessage("Body", "Menu", [("a", "A")], header=h), "text"),
        (lambda h: ProductListMessage(h, "Body", "cat", [ProductSection(None, ["x"])]), "text"),
        (lambda h: CarouselMessage("B", [CarouselCard(h, buttons=["A"])] * 2), "image, video"),
    ],
)
def test_header_types_each_message_allows(make: Any, allowed: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make(DocumentHeader("https://example.com/a.pdf"))
    assert caught.value.path.endswith("header.type")
    assert f"must be one of {allowed} here, got 'document'" in str(caught.value)


def test_product_list_requires_a_header() -> None:
    with pytest.raises(ValidationError) as caught:
        ProductListMessage(None, "Body", "cat", [ProductSection(None, ["x"])])  # type: ignore[arg-type]
    assert caught.value.path == "interactive.header"


@pytest.mark.parametrize(
    ("kind", "part"),
    [
        ("product", "header"),
        ("catalog_message", "header"),
        ("location_request_message", "footer"),
        ("location_request_message", "header"),
        ("carousel", "header"),
        ("carousel", "footer"),
    ],
)
def test_parts_a_type_does_not_allow_are_refused_from_json(kind: str, part: str) -> None:
    document = EXAMPLES[kind].to_interactive()
    document[part] = {"type": "text", "text": "Hi"} if part == "header" else {"text": "Hi"}
    with pytest.raises(ValidationError) as caught:
        parse_interactive(document)
    assert problems(caught) == {f"interactive.{part}": f"is not allowed in {kind!r} messages"}


def test_product_body_is_optional_others_required() -> None:
    ProductMessage("cat", "sku")
    CatalogMessage("Browse")
    for document in (EXAMPLES["button"].to_interactive(), EXAMPLES["flow"].to_interactive()):
        del document["body"]
        with pytest.raises(ValidationError) as caught:
            parse_interactive(document)
        assert problems(caught) == {"interactive.body.text": "is required"}


def test_carousel_cards_all_have_the_same_buttons() -> None:
    with pytest.raises(ValidationError) as caught:
        CarouselMessage(
            "Body",
            [
                CarouselCard(IMAGE, buttons=["A", "B"]),
                CarouselCard(IMAGE, buttons=["A"]),
                CarouselCard(IMAGE, display_text="Open", url="https://example.com"),
            ],
        )
    found = problems(caught)
    assert "2 quick-reply buttons" in found["interactive.action.cards[1].action"]
    assert "a URL button" in found["interactive.action.cards[2].action"]


def test_carousel_card_needs_one_kind_of_button() -> None:
    with pytest.raises(ValidationError) as caught:
        CarouselMessage(
            "Body",
            [CarouselCard(IMAGE, buttons=["A"], url="https://example.com")] * 2,
        )
    assert "not both" in str(caught.value)


def test_card_index_must_follow_position() -> None:
    document = EXAMPLES["carousel"].to_interactive()
    document["action"]["cards"][1]["card_index"] = 5
    with pytest.raises(ValidationError) as caught:
        parse_interactive(document)
    assert caught.value.path == "interactive.action.cards[1].card_index"


def test_address_country_and_free_form_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        AddressMessage("Body", "US", values={}, saved_addresses=[])
    assert set(problems(caught)) == {
        "interactive.action.parameters.country",
        "interactive.action.parameters.values",
        "interactive.action.parameters.saved_addresses",
    }


def test_location_request_is_body_only() -> None:
    assert LocationRequestMessage("Share?").to_interactive() == {
        "type": "location_request_message",
        "body": {"text": "Share?"},
        "action": {"name": "send_location"},
    }


@pytest.mark.parametrize(
    ("mutate", "path", "says"),
    [
        (lambda d: d.update(body="text"), "interactive.body", "must be a JSON object, got str"),
        (lambda d: d["body"].update(text=5), "interactive.body.text", "must be a string, got int"),
        (
            lambda d: d["action"].update(buttons={}),
            "interactive.action.buttons",
            "must be a JSON array, got dict",
        ),
        (
            lambda d: d["action"]["buttons"].append(7),
            "interactive.action.buttons[3]",
            "must be a JSON object, got int",
        ),
        (
            lambda d: d["action"]["buttons"][0].update(type="url"),
            "interactive.action.buttons[0].type",
            "must be 'reply', got 'url'",
        ),
        (lambda d: d.pop("action"), "interactive.action", "is required"),
        (
            lambda d: d["header"].update(type="gif"),
            "interactive.header.type",
            "must be one of text, image, video, document, got 'gif'",
        ),
    ],
)
def test_wrong_shapes_from_json_are_reported_with_their_path(
    mutate: Any, path: str, says: str
) -> None:
    document = EXAMPLES["button"].to_interactive()
    mutate(document)
    with pytest.raises(ValidationError) as caught:
        parse_interactive(document)
    assert problems(caught)[path].startswith(says)
    assert sum(p.path == path for p in caught.value.errors) == 1


def test_a_template_with_many_problems_is_fixed_in_one_pass() -> None:
    document = EXAMPLES["list"].to_interactive()
    document["header"] = {"type": "image", "image": {"link": "https://x.example/a.png"}}
    document["action"]["button"] = "A very long button label"
    document["action"]["sections"][1]["rows"][0]["id"] = "margherita"
    document["footer"] = {}
    with pytest.raises(ValidationError) as caught:
        parse_interactive(document)
    assert set(problems(caught)) == {
        "interactive.header.type",
        "interactive.action.button",
        "interactive.action.sections[1].rows[0].id",
        "interactive.footer.text",
    }


def test_parts_take_convenient_forms() -> None:
    assert ButtonMessage("B", ["Yes"]).buttons[0].id == "Yes"
    listed = ListMessage("B", "Menu", [("a", "A", "desc")])
    assert listed.sections == (Section(None, (Row("a", "A", "desc"),)),)
    assert ListMessage("B", "Menu", [("a", "A")], header="Hi").header == TextHeader("Hi")
    products = ProductSection("S", ["sku"])
    assert products.items[0].product_retailer_id == "sku"


def test_garbage_in_code_is_a_validation_error_too() -> None:
    with pytest.raises(ValidationError) as caught:
        ButtonMessage(42, [("a", "A", "extra", "parts")])  # type: ignore[arg-type]
    assert set(problems(caught)) == {"interactive.body.text", "interactive.action.buttons[0]"}
    with pytest.raises(ValidationError, match="must be a list of buttons"):
        ButtonMessage("Body", 5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="must be a header object"):
        ButtonMessage("Body", ["A"], header=5)  # type: ignore[arg-type]


def test_validation_error_pickles() -> None:
    with pytest.raises(ValidationError) as caught:
        ButtonMessage("", ["OK"])
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.errors == caught.value.errors
    assert str(copy) == str(caught.value)


@pytest.mark.parametrize(
    ("make", "path", "says"),
    [
        (lambda: ButtonMessage("Hi", ["A"], extra={"x": float("nan")}), "interactive.x", "finite"),
        (
            lambda: ButtonMessage("Hi", ["A"], extra={"x": {"y": [1, object()]}}),
            "interactive.x.y[1]",
            "must be a JSON value, got object",
        ),
        (
            lambda: ButtonMessage("Hi \ud800", ["A"]),
            "interactive.body.text",
            "lone surrogate",
        ),
        (
            lambda: FlowMessage(
                "Body",
                "Open",
                flow_id="1",
                flow_action="navigate",
                screen="S",
                data={"v": float("inf")},
            ),
            "interactive.action.parameters.flow_action_payload.data",
            "JSON values only",
        ),
    ],
)
def test_what_json_cannot_hold_is_refused_when_the_message_is_made(
    make: Any, path: str, says: str
) -> None:
    """Not when it is sent: a bad value in a campaign's template fails its row, up front."""
    with pytest.raises(ValidationError) as caught:
        make()
    assert caught.value.path == path
    assert says in str(caught.value)


def test_product_carousel_cards_all_come_from_one_catalog() -> None:
    from gupshup_async import CarouselMessage, ProductCard

    same = CarouselMessage("Pick one", [ProductCard("fern", "cat-1"), ProductCard("moss", "cat-1")])
    assert [c["action"]["catalog_id"] for c in same.to_interactive()["action"]["cards"]] == [
        "cat-1",
        "cat-1",
    ]
    with pytest.raises(ValidationError) as refused:
        CarouselMessage("Pick one", [ProductCard("fern", "cat-1"), ProductCard("moss", "cat-2")])
    assert refused.value.path == "interactive.action.cards[1].action.catalog_id"
    assert "one catalog" in str(refused.value)
