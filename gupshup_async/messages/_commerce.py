"""Products, product lists, catalogs, and orders: the commerce messages."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._interactive import InteractiveBase, action_parameters, json_object
from gupshup_async.messages._json import JSON, Reader
from gupshup_async.messages._parts import (
    Header,
    ImageHeader,
    ProductSection,
    TextHeader,
    as_tuple,
    check_sections,
    copy_extra,
    to_header,
)


def _to_product_sections(value: Iterable[ProductSection]) -> tuple[ProductSection, ...]:
    return as_tuple(value, lambda section: section)  # type: ignore[no-any-return]


@attrs.frozen
class ProductMessage(InteractiveBase):
    """One product from a catalog; body and footer are optional, no header."""

    TYPE: ClassVar[str] = "product"
    BODY_REQUIRED: ClassVar[bool] = False

    catalog_id: str
    product_retailer_id: str
    body: str | None = attrs.field(default=None, kw_only=True)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        rules.identifier(out, f"{path}.catalog_id", self.catalog_id, rules.ID_MAX)
        rules.identifier(out, f"{path}.product_retailer_id", self.product_retailer_id, rules.ID_MAX)

    def _action_json(self) -> JSON:
        return {"catalog_id": self.catalog_id, "product_retailer_id": self.product_retailer_id}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        return {
            "catalog_id": action.get("catalog_id"),
            "product_retailer_id": action.get("product_retailer_id"),
        }


@attrs.frozen
class ProductListMessage(InteractiveBase):
    """Up to thirty products from a catalog, in up to ten sections; a text header is required."""

    TYPE: ClassVar[str] = "product_list"
    HEADERS: ClassVar[tuple[type[Header], ...]] = (TextHeader,)
    HEADER_REQUIRED: ClassVar[bool] = True

    header: Header = attrs.field(converter=to_header)
    body: str
    catalog_id: str
    sections: tuple[ProductSection, ...] = attrs.field(converter=_to_product_sections)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        rules.identifier(out, f"{path}.catalog_id", self.catalog_id, rules.ID_MAX)
        found = check_sections(
            out,
            f"{path}.sections",
            self.sections,
            ProductSection,
            "product_items",
            rules.PRODUCT_ITEMS_MAX,
        )
        for where, item in found:
            retailer_id = getattr(item, "product_retailer_id", item)
            rules.identifier(out, f"{where}.product_retailer_id", retailer_id, rules.ID_MAX)

    def _action_json(self) -> JSON:
        return {
            "catalog_id": self.catalog_id,
            "sections": [section._json() for section in self.sections],
        }

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        product_sections = reader.each(
            action.get("sections"),
            f"{path}.sections",
            lambda o, p, _: ProductSection._read(o, p, reader),
        )
        return {"catalog_id": action.get("catalog_id"), "sections": product_sections}


@attrs.frozen
class CatalogMessage(InteractiveBase):
    """Opens the business's whole catalog; optionally with one product as the thumbnail."""

    TYPE: ClassVar[str] = "catalog_message"

    body: str
    thumbnail_product_retailer_id: str | None = attrs.field(default=None, kw_only=True)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        if self.thumbnail_product_retailer_id is not None:
            where = f"{path}.parameters.thumbnail_product_retailer_id"
            rules.identifier(out, where, self.thumbnail_product_retailer_id, rules.ID_MAX)

    def _action_json(self) -> JSON:
        action: JSON = {"name": "catalog_message"}
        if self.thumbnail_product_retailer_id is not None:
            action["parameters"] = {
                "thumbnail_product_retailer_id": self.thumbnail_product_retailer_id
            }
        return action

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = action_parameters(action, "catalog_message", path, reader)
        return {"thumbnail_product_retailer_id": parameters.get("thumbnail_product_retailer_id")}


def _amount(out: list[Problem], path: str, value: object) -> None:
    """An amount as Meta writes money: ``{"value": 1100, "offset": 100}`` is 11.00."""
    if not isinstance(value, Mapping):
        out.append(Problem(path, f"must be an amount object, got {rules.type_name(value)}"))
        return
    rules.integer(out, f"{path}.value", value.get("value"), 0, rules.AMOUNT_MAX)
    rules.integer(out, f"{path}.offset", value.get("offset"), 1, rules.AMOUNT_MAX)


@attrs.frozen
class OrderDetailsMessage(InteractiveBase):
    """A payment request for an order (Meta's ``review_and_pay``): the order's items and
    amounts, and how to pay. The documented fields are typed; any further parameter given in
    ``extra`` or read from JSON is kept.
    """

    TYPE: ClassVar[str] = "order_details"
    HEADERS: ClassVar[tuple[type[Header], ...]] = (ImageHeader,)

    body: str
    reference_id: str
    total_amount: dict[str, Any] = attrs.field(converter=json_object)
    order: dict[str, Any] = attrs.field(converter=json_object)
    currency: str = attrs.field(default="INR", kw_only=True)
    goods_type: str = attrs.field(default="digital-goods", kw_only=True)
    payment_type: str | None = attrs.field(default=None, kw_only=True)
    payment_configuration: str | None = attrs.field(default=None, kw_only=True)
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.parameters"
        rules.identifier(out, f"{where}.reference_id", self.reference_id, rules.REFERENCE_ID_MAX)
        rules.choice(out, f"{where}.type", self.goods_type, rules.GOODS_TYPES, required=True)
        rules.identifier(out, f"{where}.currency", self.currency, rules.CURRENCY_MAX)
        _amount(out, f"{where}.total_amount", self.total_amount)
        rules.non_empty_object(out, f"{where}.order", self.order)
        for key in ("payment_type", "payment_configuration"):
            value = getattr(self, key)
            if value is not None:
                rules.identifier(out, f"{where}.{key}", value, rules.REFERENCE_ID_MAX * 8)

    def _action_json(self) -> JSON:
        parameters: JSON = {
            "reference_id": self.reference_id,
            "type": self.goods_type,
            "currency": self.currency,
            "total_amount": copy.deepcopy(self.total_amount),
            "order": copy.deepcopy(self.order),
        }
        for key in ("payment_type", "payment_configuration"):
            if getattr(self, key) is not None:
                parameters[key] = getattr(self, key)
        return {"name": "review_and_pay", "parameters": parameters}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = action_parameters(action, "review_and_pay", path, reader)
        return {
            "reference_id": parameters.get("reference_id"),
            "total_amount": parameters.get("total_amount"),
            "order": parameters.get("order"),
            "currency": parameters.get("currency"),
            "goods_type": parameters.get("type"),
            "payment_type": parameters.get("payment_type"),
            "payment_configuration": parameters.get("payment_configuration"),
        }


@attrs.frozen
class OrderStatusMessage(InteractiveBase):
    """The status of an order sent with `OrderDetailsMessage` (Meta's ``review_order``)."""

    TYPE: ClassVar[str] = "order_status"

    body: str
    reference_id: str
    status: str
    description: str | None = attrs.field(default=None, kw_only=True)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.parameters"
        rules.identifier(out, f"{where}.reference_id", self.reference_id, rules.REFERENCE_ID_MAX)
        rules.choice(out, f"{where}.order.status", self.status, rules.ORDER_STATUSES, required=True)
        rules.text(
            out,
            f"{where}.order.description",
            self.description,
            rules.ORDER_DESCRIPTION_MAX,
            required=False,
        )

    def _action_json(self) -> JSON:
        order: JSON = {"status": self.status}
        if self.description is not None:
            order["description"] = self.description
        parameters = {"reference_id": self.reference_id, "order": order}
        return {"name": "review_order", "parameters": parameters}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = action_parameters(action, "review_order", path, reader)
        order = reader.optional_object(parameters, "order", f"{path}.parameters")
        return {
            "reference_id": parameters.get("reference_id"),
            "status": order.get("status"),
            "description": order.get("description"),
        }
