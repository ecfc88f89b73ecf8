"""Carousels: media cards or product cards, swiped sideways."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._interactive import InteractiveBase, action_parameters
from gupshup_async.messages._json import JSON, Reader, leftover, merge
from gupshup_async.messages._parts import (
    HEADER_TYPES,
    UNREADABLE,
    ImageHeader,
    ReplyButton,
    VideoHeader,
    as_tuple,
    check_buttons,
    check_header,
    copy_extra,
    read_buttons,
    read_header,
    to_buttons,
    to_header,
)


def _to_cards(
    value: Iterable[CarouselCard | ProductCard],
) -> tuple[CarouselCard | ProductCard, ...]:
    return as_tuple(value, lambda card: card)  # type: ignore[no-any-return]


# Meta documents every media card as "cta_url", quick-reply cards included; "button" is read
# too (this library wrote it until 0.1), and kept as it was on a round trip.
_CARD_TYPE = "cta_url"
_CARD_TYPES_READ = ("cta_url", "button")


@attrs.frozen
class CarouselCard:
    """One card of a carousel: an image or video, optional text, and either one URL button
    (``display_text`` and ``url``) or quick-reply ``buttons``.
    """

    header: ImageHeader | VideoHeader = attrs.field(converter=to_header)
    body: str | None = None
    buttons: tuple[ReplyButton, ...] = attrs.field(default=(), kw_only=True, converter=to_buttons)
    display_text: str | None = attrs.field(default=None, kw_only=True)
    url: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    @property
    def kind(self) -> str:
        """``cta_url`` for a URL card, ``quick_reply`` for a quick-reply card."""
        is_url = self.url is not None or self.display_text is not None
        return "cta_url" if is_url else "quick_reply"

    def _check(self, path: str, out: list[Problem]) -> None:
        check_header(out, f"{path}.header", self.header, (ImageHeader, VideoHeader))
        rules.text(out, f"{path}.body.text", self.body, rules.CARD_BODY_MAX, required=False)
        rules.line_breaks(out, f"{path}.body.text", self.body, rules.CARD_BODY_LINE_BREAKS_MAX)
        action = f"{path}.action"
        if self.kind == "cta_url":
            if self.buttons:
                out.append(
                    Problem(action, "must have a URL button or quick-reply buttons, not both")
                )
            where = f"{action}.parameters"
            rules.text(out, f"{where}.display_text", self.display_text, rules.CTA_DISPLAY_TEXT_MAX)
            rules.https_url(out, f"{where}.url", self.url, schemes=("https", "http"))
        else:
            check_buttons(
                out,
                f"{action}.buttons",
                self.buttons,
                1,
                rules.CARD_QUICK_REPLIES_MAX,
                kind="quick_reply",
            )

    def _fields_json(self, index: int) -> JSON:
        header = self.header._json() if isinstance(self.header, HEADER_TYPES) else {}
        card: JSON = {"card_index": index, "type": _CARD_TYPE, "header": header}
        if self.body is not None:
            card["body"] = {"text": self.body}
        if self.kind == "cta_url":
            parameters = {"display_text": self.display_text, "url": self.url}
            card["action"] = {"name": "cta_url", "parameters": parameters}
        else:
            card["action"] = {"buttons": [b._json("quick_reply") for b in self.buttons]}
        return card

    def _json(self, index: int) -> JSON:
        return merge(self._fields_json(index), self.extra)

    @classmethod
    def _read(cls, obj: Mapping[str, Any], index: int, path: str, reader: Reader) -> CarouselCard:
        found_index = obj.get("card_index")
        if type(found_index) is not int or found_index != index:
            reader.problem(f"{path}.card_index", f"must be {index}, got {rules.show(found_index)}")
        kind = obj.get("type")
        if kind not in _CARD_TYPES_READ:
            reader.problem(f"{path}.type", f"must be cta_url, got {rules.show(kind)}")
        header_obj = reader.mapping(obj.get("header"), f"{path}.header")
        header = read_header(header_obj, f"{path}.header", reader) if header_obj else UNREADABLE
        action = reader.optional_object(obj, "action", path)
        fields: dict[str, Any] = {"body": reader.text_of(obj, "body", path)}
        if "buttons" not in action:  # a URL card; quick-reply cards carry buttons
            parameters = action_parameters(action, "cta_url", f"{path}.action", reader)
            fields["display_text"] = parameters.get("display_text")
            fields["url"] = parameters.get("url")
        else:
            where = f"{path}.action.buttons"
            fields["buttons"] = read_buttons(action.get("buttons"), where, reader, "quick_reply")
        made = cls(header, **fields)
        extra = leftover(obj, made._fields_json(index))
        return attrs.evolve(made, extra=extra) if extra else made


@attrs.frozen
class ProductCard:
    """One card of a product carousel: a product of a catalog, shown as the catalog shows it
    (no header, body or buttons of its own).
    """

    product_retailer_id: str
    catalog_id: str
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    kind: ClassVar[str] = "product"

    def _check(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.action"
        rules.identifier(
            out, f"{where}.product_retailer_id", self.product_retailer_id, rules.ID_MAX
        )
        rules.identifier(out, f"{where}.catalog_id", self.catalog_id, rules.ID_MAX)

    def _fields_json(self, index: int) -> JSON:
        action = {"product_retailer_id": self.product_retailer_id, "catalog_id": self.catalog_id}
        return {"card_index": index, "type": "product", "action": action}

    def _json(self, index: int) -> JSON:
        return merge(self._fields_json(index), self.extra)

    @classmethod
    def _read(cls, obj: Mapping[str, Any], index: int, path: str, reader: Reader) -> ProductCard:
        found_index = obj.get("card_index")
        if type(found_index) is not int or found_index != index:
            reader.problem(f"{path}.card_index", f"must be {index}, got {rules.show(found_index)}")
        action = reader.optional_object(obj, "action", path)
        fields: dict[str, Any] = {
            "product_retailer_id": action.get("product_retailer_id"),
            "catalog_id": action.get("catalog_id"),
        }
        made = cls(**fields)
        extra = leftover(obj, made._fields_json(index))
        return attrs.evolve(made, extra=extra) if extra else made


def _read_card(obj: Mapping[str, Any], index: int, path: str, reader: Reader) -> Any:
    if isinstance(obj, Mapping) and obj.get("type") == "product":
        return ProductCard._read(obj, index, path, reader)
    return CarouselCard._read(obj, index, path, reader)


@attrs.frozen
class CarouselMessage(InteractiveBase):
    """Two to ten scrollable cards under one body text: media cards (`CarouselCard`), every one
    with the same buttons, or products of a catalog (`ProductCard`).
    """

    TYPE: ClassVar[str] = "carousel"
    FOOTER: ClassVar[bool] = False

    body: str
    cards: tuple[CarouselCard | ProductCard, ...] = attrs.field(converter=_to_cards)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.cards"
        cards: object = self.cards
        if not isinstance(cards, tuple):
            out.append(Problem(where, f"must be a list of cards, got {rules.type_name(cards)}"))
            return
        rules.count(out, where, len(cards), rules.CARDS_MIN, rules.CARDS_MAX, "cards")
        shapes: list[tuple[str, int]] = []
        for i, card in enumerate(cards):
            if not isinstance(card, (CarouselCard, ProductCard)):
                out.append(
                    Problem(
                        f"{where}[{i}]",
                        f"must be a CarouselCard or a ProductCard, got {rules.show(card)}",
                    )
                )
                continue
            card._check(f"{where}[{i}]", out)
            buttons: object = card.buttons if isinstance(card, CarouselCard) else ()
            shape = (card.kind, len(buttons) if isinstance(buttons, tuple) else 0)
            if shapes and shape != shapes[0]:
                out.append(
                    Problem(
                        f"{where}[{i}].action",
                        "every card must be of the same kind as card 0 "
                        f"({_describe(shapes[0])}), got {_describe(shape)}",
                    )
                )
            shapes.append(shape)
        _one_catalog(out, where, cards)

    def _action_json(self) -> JSON:
        return {"cards": [card._json(i) for i, card in enumerate(self.cards)]}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        cards = reader.each(
            action.get("cards"),
            f"{path}.cards",
            lambda o, p, i: _read_card(o, i, p, reader),
        )
        return {"cards": cards}


def _one_catalog(out: list[Problem], where: str, cards: tuple[Any, ...]) -> None:
    """Meta, "Product carousel messages": every product card comes from the same catalog."""
    catalogs = [
        (i, card.catalog_id)
        for i, card in enumerate(cards)
        if isinstance(card, ProductCard) and isinstance(card.catalog_id, str)
    ]
    for i, catalog in catalogs[1:]:
        if catalog != catalogs[0][1]:
            out.append(
                Problem(
                    f"{where}[{i}].action.catalog_id",
                    f"every product card must come from one catalog: card {catalogs[0][0]} is "
                    f"from {rules.show(catalogs[0][1])}, this one from {rules.show(catalog)}",
                )
            )


def _describe(shape: tuple[str, int]) -> str:
    kind, buttons = shape
    if kind == "product":
        return "a product"
    return "a URL button" if kind == "cta_url" else f"{buttons} quick-reply buttons"
