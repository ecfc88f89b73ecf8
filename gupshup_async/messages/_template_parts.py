"""A template message's parameters and buttons, each checked when made (Meta, "Components")."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._json import JSON
from gupshup_async.messages._parts import DocumentHeader, ImageHeader, VideoHeader, as_tuple

PATH = "template"

# Meta, "Create and manage templates": names are lowercase letters, digits and underscores,
# at most 512 characters.
NAME_MAX: Final = 512
NAME = re.compile(r"[a-z0-9_]+")
# Meta, "Supported languages": ``en``, ``en_US``, ``pt_BR``, ``zh_HK``...
LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z0-9]{2,4})?")
# Meta, "Components" (the parameter object): text parameters of a header at most 60
# characters, of the body at most 32,768.
HEADER_PARAMETER_MAX: Final = 60
BODY_PARAMETER_MAX: Final = 32_768
# Meta, error 132018: a parameter's text may not hold a line break or a tab, or more than four
# spaces in a row.
_BAD_SPACING = re.compile(r"[\n\t]| {5,}")
# Meta, "Create and manage templates": at most 10 buttons; "Copy code buttons": a code is at
# most 15 characters.
BUTTON_INDEX_MAX: Final = 9
COPY_CODE_MAX: Final = 15
# Ours: Meta states no length for a quick-reply payload; as long as a reply button's id.
PAYLOAD_MAX: Final = rules.BUTTON_ID_MAX
_CURRENCY = re.compile(r"[A-Z]{3}")  # ISO 4217


def _parameter_name(out: list[Problem], path: str, name: object) -> None:
    if name is None:
        return
    if not isinstance(name, str) or not NAME.fullmatch(name):
        out.append(
            Problem(
                f"{path}.parameter_name",
                f"must be lowercase letters, digits and underscores, got {rules.show(name)}",
            )
        )


# Parameters ---------------------------------------------------------------------------------


@attrs.frozen
class TemplateText:
    """A text parameter; ``name`` for a template with named parameters (``{{first_name}}``)."""

    text: str
    name: str | None = attrs.field(default=None, kw_only=True)
    kind: ClassVar[str] = "text"

    def _check(self, path: str, out: list[Problem], max_len: int = BODY_PARAMETER_MAX) -> None:
        rules.text(out, f"{path}.text", self.text, max_len)
        if isinstance(self.text, str) and _BAD_SPACING.search(self.text):
            out.append(
                Problem(
                    f"{path}.text",
                    "must not hold a line break, a tab or more than 4 spaces in a row "
                    f"(Meta refuses it with 132018), got {rules.show(self.text)}",
                )
            )
        _parameter_name(out, path, self.name)

    def _json(self) -> JSON:
        doc: JSON = {"type": "text", "text": self.text}
        if self.name is not None:
            doc["parameter_name"] = self.name
        return doc


@attrs.frozen
class TemplateCurrency:
    """An amount: ``fallback_value`` is shown where the currency cannot be localised;
    ``amount_1000`` is the amount times 1000 (``10990`` for 10.99) in ``code`` (ISO 4217).
    """

    fallback_value: str
    code: str
    amount_1000: int
    name: str | None = attrs.field(default=None, kw_only=True)
    kind: ClassVar[str] = "currency"

    def _check(self, path: str, out: list[Problem], max_len: int = BODY_PARAMETER_MAX) -> None:
        where = f"{path}.currency"
        rules.text(out, f"{where}.fallback_value", self.fallback_value, max_len)
        if not isinstance(self.code, str) or not _CURRENCY.fullmatch(self.code):
            out.append(
                Problem(f"{where}.code", f"must be an ISO 4217 code, got {rules.show(self.code)}")
            )
        rules.integer(out, f"{where}.amount_1000", self.amount_1000, -(2**53), 2**53)
        _parameter_name(out, path, self.name)

    def _json(self) -> JSON:
        doc: JSON = {
            "type": "currency",
            "currency": {
                "fallback_value": self.fallback_value,
                "code": self.code,
                "amount_1000": self.amount_1000,
            },
        }
        if self.name is not None:
            doc["parameter_name"] = self.name
        return doc


@attrs.frozen
class TemplateDateTime:
    """A date and time, shown as ``fallback_value``."""

    fallback_value: str
    name: str | None = attrs.field(default=None, kw_only=True)
    kind: ClassVar[str] = "date_time"

    def _check(self, path: str, out: list[Problem], max_len: int = BODY_PARAMETER_MAX) -> None:
        rules.text(out, f"{path}.date_time.fallback_value", self.fallback_value, max_len)
        _parameter_name(out, path, self.name)

    def _json(self) -> JSON:
        doc: JSON = {"type": "date_time", "date_time": {"fallback_value": self.fallback_value}}
        if self.name is not None:
            doc["parameter_name"] = self.name
        return doc


@attrs.frozen
class TemplateLocation:
    """A location header: where, and optionally its name and address."""

    latitude: float
    longitude: float
    name: str | None = attrs.field(default=None, kw_only=True)
    address: str | None = attrs.field(default=None, kw_only=True)
    kind: ClassVar[str] = "location"

    def _check(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.location"
        for field, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                shown = f"{rules.type_name(value)} {rules.show(value)}"
                out.append(Problem(f"{where}.{field}", f"must be a number, got {shown}"))
            elif not low <= value <= high:
                out.append(Problem(f"{where}.{field}", f"must be from {low} to {high}"))
        rules.text(out, f"{where}.name", self.name, rules.BODY_MAX, required=False)
        rules.text(out, f"{where}.address", self.address, rules.BODY_MAX, required=False)

    def _json(self) -> JSON:
        location: JSON = {"latitude": self.latitude, "longitude": self.longitude}
        if self.name is not None:
            location["name"] = self.name
        if self.address is not None:
            location["address"] = self.address
        return {"type": "location", "location": location}


@attrs.frozen
class TemplateProduct:
    """A product header: one product of a catalog (a single-product template, or a card of a
    product-card carousel template).
    """

    product_retailer_id: str
    catalog_id: str
    kind: ClassVar[str] = "product"

    def _check(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.product"
        rules.identifier(
            out, f"{where}.product_retailer_id", self.product_retailer_id, rules.ID_MAX
        )
        rules.identifier(out, f"{where}.catalog_id", self.catalog_id, rules.ID_MAX)

    def _json(self) -> JSON:
        product = {"product_retailer_id": self.product_retailer_id, "catalog_id": self.catalog_id}
        return {"type": "product", "product": product}


BodyParameter = TemplateText | TemplateCurrency | TemplateDateTime
TemplateHeader = (
    TemplateText | ImageHeader | VideoHeader | DocumentHeader | TemplateLocation | TemplateProduct
)
BODY_TYPES = (TemplateText, TemplateCurrency, TemplateDateTime)
HEADER_TYPES = (
    TemplateText,
    ImageHeader,
    VideoHeader,
    DocumentHeader,
    TemplateLocation,
    TemplateProduct,
)


def to_header(value: TemplateHeader | str | None) -> TemplateHeader | None:
    return TemplateText(value) if isinstance(value, str) else value


def to_body(
    value: Iterable[BodyParameter | str] | Mapping[str, BodyParameter | str],
) -> tuple[BodyParameter, ...]:
    """Positional parameters in order, or named ones from a mapping ``{name: value}``."""
    if isinstance(value, Mapping):
        return tuple(_named(name, item) for name, item in value.items())
    return as_tuple(value, lambda v: TemplateText(v) if isinstance(v, str) else v)  # type: ignore[no-any-return]


def is_named(body: tuple[BodyParameter, ...]) -> bool:
    return any(getattr(p, "name", None) is not None for p in body)


def _named(name: str, value: BodyParameter | str) -> BodyParameter:
    if isinstance(value, str):
        return TemplateText(value, name=name)
    if isinstance(value, BODY_TYPES) and value.name is None:
        return attrs.evolve(value, name=name)
    return value


# Buttons ------------------------------------------------------------------------------------


@attrs.frozen
class TemplateButtonBase:
    index: int
    sub_type: ClassVar[str]

    def _check(self, path: str, out: list[Problem], most: int = BUTTON_INDEX_MAX) -> None:
        rules.integer(out, f"{path}.index", self.index, 0, most)
        self._check_parameter(f"{path}.parameters[0]", out)

    def _check_parameter(self, path: str, out: list[Problem]) -> None:
        raise NotImplementedError

    def _parameter(self) -> JSON:
        raise NotImplementedError

    def _json(self) -> JSON:
        return {
            "type": "button",
            "sub_type": self.sub_type,
            "index": str(self.index),
            "parameters": [self._parameter()],
        }


@attrs.frozen
class TemplateQuickReply(TemplateButtonBase):
    """The payload of quick-reply button ``index``: it comes back when the user taps it
    (a `TemplateButtonReply`).
    """

    payload: str
    sub_type: ClassVar[str] = "quick_reply"

    def _check_parameter(self, path: str, out: list[Problem]) -> None:
        rules.identifier(out, f"{path}.payload", self.payload, PAYLOAD_MAX)

    def _parameter(self) -> JSON:
        return {"type": "payload", "payload": self.payload}


@attrs.frozen
class TemplateUrlButton(TemplateButtonBase):
    """The dynamic end of URL button ``index``'s link (the template's ``{{1}}``)."""

    suffix: str
    sub_type: ClassVar[str] = "url"

    def _check_parameter(self, path: str, out: list[Problem]) -> None:
        rules.text(out, f"{path}.text", self.suffix, rules.URL_MAX)
        if isinstance(self.suffix, str) and any(c.isspace() for c in self.suffix):
            out.append(
                Problem(f"{path}.text", f"must hold no spaces, got {rules.show(self.suffix)}")
            )

    def _parameter(self) -> JSON:
        return {"type": "text", "text": self.suffix}


@attrs.frozen
class TemplateCopyCode(TemplateButtonBase):
    """The code copy-code button ``index`` copies (a coupon, at most 15 characters)."""

    code: str
    sub_type: ClassVar[str] = "copy_code"

    def _check_parameter(self, path: str, out: list[Problem]) -> None:
        rules.identifier(out, f"{path}.coupon_code", self.code, COPY_CODE_MAX)

    def _parameter(self) -> JSON:
        return {"type": "coupon_code", "coupon_code": self.code}


@attrs.frozen
class TemplateFlowButton(TemplateButtonBase):
    """What flow button ``index`` opens the flow with: a ``flow_token`` and initial data."""

    flow_token: str | None = None
    action_data: dict[str, Any] | None = attrs.field(default=None, kw_only=True)
    sub_type: ClassVar[str] = "flow"

    def _check_parameter(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.action"
        rules.text(
            out, f"{where}.flow_token", self.flow_token, rules.FLOW_TOKEN_MAX, required=False
        )
        if self.action_data is not None:
            rules.non_empty_object(out, f"{where}.flow_action_data", self.action_data)

    def _parameter(self) -> JSON:
        action: JSON = {}
        if self.flow_token is not None:
            action["flow_token"] = self.flow_token
        if self.action_data is not None:
            action["flow_action_data"] = self.action_data
        return {"type": "action", "action": action}


def _sections(value: Any) -> Any:
    return as_tuple(value, _copied)


def _copied(value: Any) -> Any:
    """A deep copy of a mapping (the caller's cannot change the message later)."""
    return copy.deepcopy(dict(value)) if isinstance(value, Mapping) else value


@attrs.frozen
class TemplateCatalogButton(TemplateButtonBase):
    """Catalog button ``index`` (it opens the business's catalog); ``thumbnail`` is the
    ``product_retailer_id`` of the product shown as the message's image (optional).
    """

    thumbnail: str | None = None
    sub_type: ClassVar[str] = "catalog"

    def _check_parameter(self, path: str, out: list[Problem]) -> None:
        rules.text(
            out,
            f"{path}.action.thumbnail_product_retailer_id",
            self.thumbnail,
            rules.ID_MAX,
            required=False,
        )

    def _parameter(self) -> JSON:
        action: JSON = {}
        if self.thumbnail is not None:
            action["thumbnail_product_retailer_id"] = self.thumbnail
        return {"type": "action", "action": action}


@attrs.frozen
class TemplateMultiProductButton(TemplateButtonBase):
    """Multi-product button ``index``: ``sections`` of products of the template's catalog,
    ``{"title": ..., "product_items": [{"product_retailer_id": ...}]}`` (1 to 10 sections, 30
    products in all, as a `ProductListMessage`), and the ``thumbnail`` product's image.
    """

    thumbnail: str
    sections: tuple[dict[str, Any], ...] = attrs.field(
        default=(), kw_only=True, converter=_sections
    )
    sub_type: ClassVar[str] = "mpm"

    def _check_parameter(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.action"
        rules.identifier(
            out, f"{where}.thumbnail_product_retailer_id", self.thumbnail, rules.ID_MAX
        )
        sections: object = self.sections
        if not isinstance(sections, tuple):
            out.append(Problem(f"{where}.sections", f"must be a list, got {rules.show(sections)}"))
            return
        rules.count(out, f"{where}.sections", len(sections), 1, rules.SECTIONS_MAX, "sections")
        items = 0
        for i, section in enumerate(sections):
            at = f"{where}.sections[{i}]"
            if not isinstance(section, Mapping):
                out.append(Problem(at, f"must be an object, got {rules.show(section)}"))
                continue
            rules.text(out, f"{at}.title", section.get("title"), rules.SECTION_TITLE_MAX)
            products = section.get("product_items")
            if not isinstance(products, list) or not products:
                out.append(Problem(f"{at}.product_items", "must be a non-empty list"))
                continue
            for j, product in enumerate(products):
                retailer = (
                    product.get("product_retailer_id") if isinstance(product, Mapping) else None
                )
                rules.identifier(
                    out, f"{at}.product_items[{j}].product_retailer_id", retailer, rules.ID_MAX
                )
            items += len(products)
        if items > rules.PRODUCT_ITEMS_MAX:
            out.append(
                Problem(
                    f"{where}.sections",
                    f"must hold at most {rules.PRODUCT_ITEMS_MAX} products in all, got {items}",
                )
            )

    def _parameter(self) -> JSON:
        action = {
            "thumbnail_product_retailer_id": self.thumbnail,
            "sections": [copy.deepcopy(section) for section in self.sections],
        }
        return {"type": "action", "action": action}


@attrs.frozen
class TemplateOrderDetailsButton(TemplateButtonBase):
    """Order-details button ``index`` (a payment template): ``order_details``, Meta's object
    (``reference_id``, ``type``, ``currency``, ``total_amount``, ``order``...), as given.
    """

    order_details: dict[str, Any] = attrs.field(factory=dict, converter=_copied)
    sub_type: ClassVar[str] = "order_details"

    def _check_parameter(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.action.order_details"
        details: object = self.order_details
        if not isinstance(details, Mapping) or not details:
            out.append(Problem(where, f"must be a non-empty object, got {rules.show(details)}"))
            return
        rules.identifier(out, f"{where}.reference_id", details.get("reference_id"), rules.ID_MAX)

    def _parameter(self) -> JSON:
        action = {"order_details": copy.deepcopy(self.order_details)}
        return {"type": "action", "action": action}


TemplateButton = (
    TemplateQuickReply
    | TemplateUrlButton
    | TemplateCopyCode
    | TemplateFlowButton
    | TemplateCatalogButton
    | TemplateMultiProductButton
    | TemplateOrderDetailsButton
)
BUTTON_TYPES: dict[str, type[TemplateButton]] = {
    cls.sub_type: cls
    for cls in (
        TemplateQuickReply,
        TemplateUrlButton,
        TemplateCopyCode,
        TemplateFlowButton,
        TemplateCatalogButton,
        TemplateMultiProductButton,
        TemplateOrderDetailsButton,
    )
}


def to_tuple(value: Any) -> Any:
    """A converter: buttons or cards, any iterable of them, as a tuple (anything else is left
    for the check to report, with its path).
    """
    return as_tuple(value, lambda item: item)
