"""Call permission requests, contact info requests, order details and order status: Meta's
published examples round-trip exactly, one broken limit is refused where it is, and the sandbox
takes each type as Meta would.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gupshup_async import (
    CarouselCard,
    CarouselMessage,
    GupshupClient,
    ImageHeader,
    ProductCard,
    ValidationError,
    parse_interactive,
)
from gupshup_async._examples import EXAMPLES
from gupshup_async.sandbox import Sandbox

META = Path(__file__).parent.parent / "data" / "meta-openapi-examples"
NEW = ("call_permission_request", "request_contact_info", "order_details", "order_status")


def meta(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((META / f"send_{name}_message.json").read_text())
    return document["interactive"]  # type: ignore[no-any-return]


def broken(document: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copied = copy.deepcopy(document)
    change(copied)
    return copied


def _set(path: list[str | int], value: object) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        node: Any = document
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return change


_DELETE = object()
P = ["action", "parameters"]


@pytest.mark.parametrize(
    ("source", "change", "path"),
    [
        ("order_details", _set([*P, "reference_id"], _DELETE), "parameters.reference_id"),
        ("order_details", _set([*P, "type"], "services"), "parameters.type"),
        ("order_details", _set([*P, "total_amount", "offset"], 0), "total_amount.offset"),
        ("order_details", _set([*P, "total_amount", "value"], "11.00"), "total_amount.value"),
        ("order_details", _set([*P, "order"], {}), "parameters.order"),
        ("order_details", _set(["header", "type"], "text"), "interactive.header.type"),
        ("order_details", _set(["action", "name"], "pay_now"), "action.name"),
        ("order_status", _set([*P, "order", "status"], "lost"), "order.status"),
        ("order_status", _set([*P, "reference_id"], ""), "parameters.reference_id"),
        ("order_status", _set(["body"], _DELETE), "body.text"),
    ],
)
def test_one_broken_field_of_metas_order_examples_is_refused_where_it_is(
    source: str, change: Callable[[dict[str, Any]], None], path: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_interactive(broken(meta(source), change))
    assert any(p.path.endswith(path) for p in caught.value.errors), caught.value


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (
            {
                "type": "call_permission_request",
                "header": {"type": "text", "text": "Hi"},
                "action": {"name": "call_permission_request"},
            },
            "interactive.header",
        ),
        (
            {"type": "call_permission_request", "action": {"name": "voice_call"}},
            "interactive.action.name",
        ),
        ({"type": "request_contact_info", "action": {"name": "request_contact_info"}}, "body"),
        (
            {
                "type": "request_contact_info",
                "body": {"text": "Share your number?"},
                "footer": {"text": "Thanks"},
                "action": {"name": "request_contact_info"},
            },
            "interactive.footer",
        ),
    ],
)
def test_the_simple_new_types_refuse_what_they_do_not_take(
    document: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_interactive(document)
    assert any(path in p.path for p in caught.value.errors), caught.value


def test_a_call_permission_request_needs_no_body() -> None:
    document = {"type": "call_permission_request", "action": {"name": "call_permission_request"}}
    assert parse_interactive(document).to_interactive() == document


@pytest.mark.parametrize("kind", NEW)
def test_the_built_examples_round_trip(kind: str) -> None:
    message = EXAMPLES[kind]
    assert parse_interactive(message.to_interactive()) == message


async def test_each_new_type_goes_through_the_sandbox() -> None:
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            for kind in NEW:
                await client.send("+91 98765 43210", EXAMPLES[kind])
            await client.send("+91 98765 43210", parse_interactive(meta("order_details")))
    assert [p.interactive_type for p in sandbox.account.processed] == [*NEW, "order_details"]


# Meta's documented product carousel ("Interactive product carousel messages", 2025-12).
PRODUCT_CAROUSEL = {
    "type": "carousel",
    "body": {"text": "Picked for you"},
    "action": {
        "cards": [
            {
                "card_index": i,
                "type": "product",
                "action": {"product_retailer_id": f"sku-{i}", "catalog_id": "cat-1"},
            }
            for i in range(3)
        ]
    },
}


def test_metas_product_carousel_round_trips_exactly() -> None:
    message = parse_interactive(PRODUCT_CAROUSEL)
    assert isinstance(message, CarouselMessage)
    assert all(isinstance(card, ProductCard) for card in message.cards)
    assert message.to_interactive() == PRODUCT_CAROUSEL
    built = CarouselMessage("Picked for you", [ProductCard(f"sku-{i}", "cat-1") for i in range(3)])
    assert built == message


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (_set(["action", "cards", 1, "action", "catalog_id"], ""), "cards[1].action.catalog_id"),
        (_set(["action", "cards", 2, "action"], _DELETE), "cards[2].action.product_retailer_id"),
        (_set(["body"], _DELETE), "interactive.body.text"),
        (_set(["action", "cards", 0, "card_index"], 5), "cards[0].card_index"),
    ],
)
def test_a_broken_product_carousel_is_refused_where_it_is(
    change: Callable[[dict[str, Any]], None], path: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_interactive(broken(PRODUCT_CAROUSEL, change))
    assert any(p.path.endswith(path) for p in caught.value.errors), caught.value


def test_product_and_media_cards_do_not_mix() -> None:
    image = ImageHeader("https://cdn.example.com/a.png")
    with pytest.raises(ValidationError) as caught:
        CarouselMessage("Pick", [ProductCard("sku-1", "cat-1"), CarouselCard(image, buttons=["A"])])
    assert caught.value.path == "interactive.action.cards[1].action"
    assert "same kind as card 0 (a product)" in str(caught.value)


async def test_a_product_carousel_goes_through_the_sandbox() -> None:
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            await client.send("+91 98765 43210", parse_interactive(PRODUCT_CAROUSEL))
    assert [p.interactive_type for p in sandbox.account.processed] == ["carousel"]
