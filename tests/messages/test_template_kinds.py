"""Template kinds in wide use: Meta's coupon and limited-time offer examples (``COPY_CODE`` in
Meta's capitals), catalog, multi-product and order-details buttons, product headers and
product-card carousels: read, written back unchanged, checked, and checked against definitions.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gupshup_async import (
    TemplateCard,
    TemplateCatalogButton,
    TemplateCopyCode,
    TemplateDefinition,
    TemplateMessage,
    TemplateMultiProductButton,
    TemplateOrderDetailsButton,
    TemplateProduct,
    TemplateQuickReply,
    TemplateUrlButton,
    ValidationError,
    build_payload,
    parse_message,
)

# Meta, "Limited-time offer templates": the send example (its image id and dates concrete).
OFFER = {
    "name": "limited_time_offer_caribbean_pkg_2023",
    "language": {"code": "en_US"},
    "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"id": "1602186516975000"}}]},
        {
            "type": "limited_time_offer",
            "parameters": [
                {
                    "type": "limited_time_offer",
                    "limited_time_offer": {"expiration_time_ms": 1798761600000},
                }
            ],
        },
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Pablo"}, {"type": "text", "text": "CARIBE25"}],
        },
        {
            "type": "button",
            "sub_type": "COPY_CODE",
            "index": 0,
            "parameters": [{"type": "coupon_code", "coupon_code": "CARIBE25"}],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": 1,
            "parameters": [{"type": "text", "text": "n3mtql"}],
        },
    ],
}

CATALOG = {
    "name": "intro_catalog_offer",
    "language": {"code": "en_US"},
    "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "100"}]},
        {
            "type": "button",
            "sub_type": "CATALOG",
            "index": 0,
            "parameters": [
                {"type": "action", "action": {"thumbnail_product_retailer_id": "2lc20305pt"}}
            ],
        },
    ],
}

MPM = {
    "name": "abandoned_cart",
    "language": {"code": "en_US"},
    "components": [
        {"type": "header", "parameters": [{"type": "text", "text": "Forget something?"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Pablo"}]},
        {
            "type": "button",
            "sub_type": "mpm",
            "index": 0,
            "parameters": [
                {
                    "type": "action",
                    "action": {
                        "thumbnail_product_retailer_id": "2lc20305pt",
                        "sections": [
                            {
                                "title": "Popular Bundles",
                                "product_items": [
                                    {"product_retailer_id": "2lc20305pt"},
                                    {"product_retailer_id": "nseiw1x9sd"},
                                ],
                            }
                        ],
                    },
                }
            ],
        },
    ],
}

ORDER = {
    "name": "payment_request",
    "language": {"code": "en_US"},
    "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Asha"}]},
        {
            "type": "button",
            "sub_type": "order_details",
            "index": 0,
            "parameters": [
                {
                    "type": "action",
                    "action": {
                        "order_details": {
                            "reference_id": "order-1042",
                            "type": "digital-goods",
                            "currency": "INR",
                            "total_amount": {"value": 50000, "offset": 100},
                            "order": {"status": "pending", "items": []},
                        }
                    },
                }
            ],
        },
    ],
}

PRODUCT_CAROUSEL = {
    "name": "product_carousel_spring",
    "language": {"code": "en_US"},
    "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Asha"}]},
        {
            "type": "carousel",
            "cards": [
                {
                    "card_index": i,
                    "components": [
                        {
                            "type": "header",
                            "parameters": [
                                {
                                    "type": "product",
                                    "product": {
                                        "product_retailer_id": rid,
                                        "catalog_id": "194836987003835",
                                    },
                                }
                            ],
                        }
                    ],
                }
                for i, rid in enumerate(["2lc20305pt", "nseiw1x9sd"])
            ],
        },
    ],
}


@pytest.mark.parametrize(
    "document", [OFFER, CATALOG, MPM, ORDER, PRODUCT_CAROUSEL], ids=lambda d: d["name"]
)
def test_documented_template_kinds_are_read_and_written_back_unchanged(
    document: dict[str, Any],
) -> None:
    given = copy.deepcopy(document)
    message = parse_message({"type": "template", "template": document})
    assert document == given
    assert isinstance(message, TemplateMessage)
    assert build_payload("+91 98765 43210", message)["template"] == document


def test_what_the_kinds_are_read_as() -> None:
    offer = parse_message(OFFER)
    assert isinstance(offer, TemplateMessage)
    assert offer.offer_expires_ms == 1798761600000
    assert offer.buttons == (TemplateCopyCode(0, "CARIBE25"), TemplateUrlButton(1, "n3mtql"))
    [catalog] = parse_message(CATALOG).buttons  # type: ignore[union-attr]
    assert catalog == TemplateCatalogButton(0, "2lc20305pt")
    [mpm] = parse_message(MPM).buttons  # type: ignore[union-attr]
    assert isinstance(mpm, TemplateMultiProductButton)
    assert mpm.sections[0]["title"] == "Popular Bundles"
    [order] = parse_message(ORDER).buttons  # type: ignore[union-attr]
    assert isinstance(order, TemplateOrderDetailsButton)
    assert order.order_details["reference_id"] == "order-1042"
    carousel = parse_message(PRODUCT_CAROUSEL)
    assert isinstance(carousel, TemplateMessage)
    assert [card.header for card in carousel.cards] == [
        TemplateProduct("2lc20305pt", "194836987003835"),
        TemplateProduct("nseiw1x9sd", "194836987003835"),
    ]


def test_built_in_python_they_write_metas_shapes() -> None:
    message = TemplateMessage(
        "spring_offer",
        "en_US",
        header=TemplateProduct("2lc20305pt", "194836987003835"),
        body=["Asha"],
        buttons=[TemplateCopyCode(0, "SPRING25")],
        offer_expires_ms=1798761600000,
    )
    components = message.to_template()["components"]
    assert [c["type"] for c in components] == ["header", "limited_time_offer", "body", "button"]
    assert components[0]["parameters"][0]["type"] == "product"
    assert components[1]["parameters"][0]["limited_time_offer"] == {
        "expiration_time_ms": 1798761600000
    }


@pytest.mark.parametrize(
    ("make", "path", "says"),
    [
        (
            lambda: TemplateMessage("o", "en", body=["x"], offer_expires_ms=0),
            "template.components[0].parameters[0].limited_time_offer.expiration_time_ms",
            "Unix time in milliseconds",
        ),
        (
            lambda: TemplateMessage("o", "en", buttons=[TemplateMultiProductButton(0, "p1")]),
            "template.components[0].parameters[0].action.sections",
            "1 to 10 sections",
        ),
        (
            lambda: TemplateMessage(
                "o",
                "en",
                buttons=[
                    TemplateMultiProductButton(
                        0,
                        "p1",
                        sections=[
                            {
                                "title": "All",
                                "product_items": [
                                    {"product_retailer_id": f"p{n}"} for n in range(31)
                                ],
                            }
                        ],
                    )
                ],
            ),
            "template.components[0].parameters[0].action.sections",
            "at most 30 products",
        ),
        (
            lambda: TemplateMessage(
                "o", "en", buttons=[TemplateOrderDetailsButton(0, {"type": "digital-goods"})]
            ),
            "template.components[0].parameters[0].action.order_details.reference_id",
            "is required",
        ),
        (
            lambda: TemplateMessage("o", "en", header=TemplateProduct("", "cat")),
            "template.components[0].parameters[0].product.product_retailer_id",
            "empty",
        ),
        (
            lambda: TemplateMessage(
                "o",
                "en",
                cards=[
                    TemplateCard(TemplateProduct("a", "cat-1")),
                    TemplateCard(TemplateProduct("b", "cat-2")),
                ],
            ),
            "template.components[0].cards[1].components[0].parameters[0].product.catalog_id",
            "one catalog",
        ),
    ],
)
def test_each_rule_is_refused_with_its_path(make: Any, path: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make()
    assert refused.value.path == path
    assert says in str(refused.value)


def definition(*components: dict[str, Any]) -> TemplateDefinition:
    return TemplateDefinition.from_meta(
        {"name": "t", "language": "en_US", "status": "APPROVED", "components": list(components)}
    )


BODY = {"type": "BODY", "text": "Hi {{1}}"}


def test_definitions_check_the_offer_and_the_new_buttons() -> None:
    offer = definition(
        {
            "type": "LIMITED_TIME_OFFER",
            "limited_time_offer": {"text": "Sale", "has_expiration": True},
        },
        BODY,
        {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SALE"}]},
    )
    fits = TemplateMessage(
        "t",
        "en_US",
        body=["Asha"],
        buttons=[TemplateCopyCode(0, "SALE")],
        offer_expires_ms=1798761600000,
    )
    assert offer.problems(fits) == []
    without = TemplateMessage("t", "en_US", body=["Asha"], buttons=[TemplateCopyCode(0, "SALE")])
    assert [p.message for p in offer.problems(without)] == [
        "the template's limited-time offer needs its expiry (offer_expires_ms=...)"
    ]
    mpm = definition(BODY, {"type": "BUTTONS", "buttons": [{"type": "MPM", "text": "View items"}]})
    asked = TemplateMessage("t", "en_US", body=["Asha"])
    assert "needs its products" in str(mpm.problems(asked))
    wrong = TemplateMessage("t", "en_US", body=["Asha"], buttons=[TemplateQuickReply(0, "x")])
    assert "is a mpm button" in str(mpm.problems(wrong))
    catalog = definition(
        BODY, {"type": "BUTTONS", "buttons": [{"type": "CATALOG", "text": "View"}]}
    )
    assert (
        catalog.problems(
            TemplateMessage("t", "en_US", body=["A"], buttons=[TemplateCatalogButton(0)])
        )
        == []
    )
