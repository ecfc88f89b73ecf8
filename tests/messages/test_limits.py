"""Every documented count and length, at its boundary: the limit passes, one more fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gupshup_async import (
    ButtonMessage,
    CarouselCard,
    CarouselMessage,
    CtaUrlMessage,
    FlowMessage,
    ImageHeader,
    ListMessage,
    Message,
    ProductListMessage,
    ProductSection,
    Row,
    Section,
    ValidationError,
    VoiceCallMessage,
)

IMAGE = ImageHeader("https://cdn.example.com/a.png")


def text(n: int) -> str:
    # Code points, not bytes or UTF-16 units: an emoji counts as one character.
    return "é" * (n - 1) + "😀" if n else ""


def buttons(n: int) -> list[tuple[str, str]]:
    return [(f"id{i}", f"Title {i}") for i in range(n)]


def rows(n: int) -> list[Row]:
    return [Row(f"r{i}", f"Row {i}") for i in range(n)]


def cards(n: int, **card: Any) -> list[CarouselCard]:
    return [CarouselCard(IMAGE, buttons=[(f"c{i}", "Add")], **card) for i in range(n)]


def flow(**fields: Any) -> FlowMessage:
    return FlowMessage("Body", fields.pop("flow_cta", "Open"), flow_id="1", **fields)


# (what, limit, build(value) -> message, path of the problem above the limit)
LIMITS: list[tuple[str, int, Callable[[int], Message], str]] = [
    ("body", 1024, lambda n: ButtonMessage(text(n), ["OK"]), "interactive.body.text"),
    ("list body", 4096, lambda n: ListMessage(text(n), "Menu", rows(1)), "interactive.body.text"),
    (
        "footer",
        60,
        lambda n: ButtonMessage("Body", ["OK"], footer=text(n)),
        "interactive.footer.text",
    ),
    (
        "header text",
        60,
        lambda n: ButtonMessage("Body", ["OK"], header=text(n)),
        "interactive.header.text",
    ),
    ("buttons", 3, lambda n: ButtonMessage("Body", buttons(n)), "interactive.action.buttons"),
    (
        "button id",
        256,
        lambda n: ButtonMessage("Body", [(text(n), "OK")]),
        "interactive.action.buttons[0].reply.id",
    ),
    (
        "button title",
        20,
        lambda n: ButtonMessage("Body", [("ok", text(n))]),
        "interactive.action.buttons[0].reply.title",
    ),
    (
        "list button",
        20,
        lambda n: ListMessage("Body", text(n), rows(1)),
        "interactive.action.button",
    ),
    (
        "sections",
        10,
        lambda n: ListMessage(
            "Body", "Menu", [Section(f"S{i}", [(f"r{i}", "Row")]) for i in range(n)]
        ),
        "interactive.action.sections",
    ),
    (
        "rows in all",
        10,
        lambda n: ListMessage("Body", "Menu", rows(n)),
        "interactive.action.sections",
    ),
    (
        "row id",
        200,
        lambda n: ListMessage("Body", "Menu", [(text(n), "Row")]),
        "interactive.action.sections[0].rows[0].id",
    ),
    (
        "row title",
        24,
        lambda n: ListMessage("Body", "Menu", [("r", text(n))]),
        "interactive.action.sections[0].rows[0].title",
    ),
    (
        "row description",
        72,
        lambda n: ListMessage("Body", "Menu", [("r", "Row", text(n))]),
        "interactive.action.sections[0].rows[0].description",
    ),
    (
        "section title",
        24,
        lambda n: ListMessage("Body", "Menu", [Section(text(n), rows(1))]),
        "interactive.action.sections[0].title",
    ),
    (
        "cta display text",
        20,
        lambda n: CtaUrlMessage("Body", text(n), "https://example.com"),
        "interactive.action.parameters.display_text",
    ),
    (
        "flow cta",
        30,
        lambda n: flow(flow_cta=text(n)),
        "interactive.action.parameters.flow_cta",
    ),
    (
        "products in all",
        30,
        lambda n: ProductListMessage(
            "Picks", "Body", "cat", [ProductSection(None, [f"sku{i}" for i in range(n)])]
        ),
        "interactive.action.sections",
    ),
    (
        "product sections",
        10,
        lambda n: ProductListMessage(
            "Picks", "Body", "cat", [ProductSection(f"S{i}", [f"sku{i}"]) for i in range(n)]
        ),
        "interactive.action.sections",
    ),
    (
        "voice call display text",
        20,
        lambda n: VoiceCallMessage("Body", display_text=text(n)),
        "interactive.action.parameters.display_text",
    ),
    (
        "voice call ttl",
        43200,
        lambda n: VoiceCallMessage("Body", ttl_minutes=n),
        "interactive.action.parameters.ttl_minutes",
    ),
    (
        "voice call payload",
        512,
        lambda n: VoiceCallMessage("Body", payload=text(n)),
        "interactive.action.parameters.payload",
    ),
    ("cards", 10, lambda n: CarouselMessage("Body", cards(n)), "interactive.action.cards"),
    (
        "card body",
        160,
        lambda n: CarouselMessage("Body", cards(2, body=text(n))),
        "interactive.action.cards[0].body.text",
    ),
    (
        "card quick replies",
        3,
        lambda n: CarouselMessage(
            "Body", [CarouselCard(IMAGE, buttons=buttons(n)) for _ in range(2)]
        ),
        "interactive.action.cards[0].action.buttons",
    ),
]

# (what, lowest allowed, build, path of the problem below it)
MINIMUMS: list[tuple[str, int, Callable[[int], Message], str]] = [
    ("buttons", 1, lambda n: ButtonMessage("Body", buttons(n)), "interactive.action.buttons"),
    ("rows", 1, lambda n: ListMessage("Body", "Menu", [Section(None, rows(n))]), "rows"),
    ("cards", 2, lambda n: CarouselMessage("Body", cards(n)), "interactive.action.cards"),
    (
        "voice call ttl",
        1,
        lambda n: VoiceCallMessage("Body", ttl_minutes=n),
        "interactive.action.parameters.ttl_minutes",
    ),
    (
        "card quick replies",
        1,
        lambda n: CarouselMessage(
            "Body", [CarouselCard(IMAGE, buttons=buttons(n)) for _ in range(2)]
        ),
        "interactive.action.cards[0].action.buttons",
    ),
]


@pytest.mark.parametrize(("what", "limit", "build", "path"), LIMITS, ids=[x[0] for x in LIMITS])
def test_limit_passes_and_one_more_fails(
    what: str, limit: int, build: Callable[[int], Message], path: str
) -> None:
    build(limit)
    with pytest.raises(ValidationError) as caught:
        build(limit + 1)
    assert caught.value.path == path
    assert str(limit) in caught.value.errors[0].message
    assert str(limit + 1) in caught.value.errors[0].message


@pytest.mark.parametrize(("what", "low", "build", "path"), MINIMUMS, ids=[x[0] for x in MINIMUMS])
def test_minimum_passes_and_one_fewer_fails(
    what: str, low: int, build: Callable[[int], Message], path: str
) -> None:
    build(low)
    with pytest.raises(ValidationError) as caught:
        build(low - 1)
    assert caught.value.path.endswith(path)


def test_characters_are_code_points() -> None:
    # 20 emoji are 40 UTF-16 units and 80 UTF-8 bytes, but 20 characters for WhatsApp.
    ButtonMessage("Body", [("ok", "👍" * 20)])
    with pytest.raises(ValidationError, match="got 21"):
        ButtonMessage("Body", [("ok", "👍" * 21)])
