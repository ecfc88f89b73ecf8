"""The interactive message types, each a frozen attrs class checked as a whole when it is made.

A message writes Meta's ``interactive`` object (`to_interactive`) and reads one back
(`parse_interactive`); fields we do not model survive the trip in ``extra``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from gupshup_async.errors import Problem, ValidationError
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._json import JSON, Reader, leftover, merge, seal
from gupshup_async.messages._parts import (
    HEADER_TYPES,
    UNREADABLE,
    Header,
    ImageHeader,
    ProductSection,
    ReplyButton,
    Row,
    RowLike,
    Section,
    TextHeader,
    VideoHeader,
    as_tuple,
    check_buttons,
    check_header,
    copy_extra,
    read_buttons,
    read_header,
    to_buttons,
    to_header,
    with_leftover,
)

PATH = "interactive"


def _json_object(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A converter for free-form JSON objects: a copy, so the message cannot change later."""
    return dict(value) if isinstance(value, Mapping) else value


def _json_array(value: Sequence[Any] | None) -> list[Any] | None:
    return list(value) if isinstance(value, (list, tuple)) else value  # type: ignore[return-value]


def _to_cards(
    value: Iterable[CarouselCard | ProductCard],
) -> tuple[CarouselCard | ProductCard, ...]:
    return as_tuple(value, lambda card: card)  # type: ignore[no-any-return]


def _to_product_sections(value: Iterable[ProductSection]) -> tuple[ProductSection, ...]:
    return as_tuple(value, lambda section: section)  # type: ignore[no-any-return]


@attrs.frozen
class _Message:
    """What every message type shares: header, body and footer, the checks, JSON in and out."""

    # The request's interactive JSON, made when the message is: one per message, however many
    # recipients get it.
    _encoded: bytes = attrs.field(init=False, default=b"", eq=False, hash=False, repr=False)

    TYPE: ClassVar[str]
    #: The request's ``type``: every class here is an interactive message.
    PAYLOAD: ClassVar[str] = "interactive"
    HEADERS: ClassVar[tuple[type[Header], ...]] = ()
    HEADER_REQUIRED: ClassVar[bool] = False
    BODY_MAX: ClassVar[int | None] = rules.BODY_MAX
    BODY_REQUIRED: ClassVar[bool] = True
    FOOTER: ClassVar[bool] = True

    extra: dict[str, Any]

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        self._check(problems)
        seal(self, problems, PATH, self.to_interactive)

    def to_interactive(self) -> JSON:
        """Meta's ``interactive`` object: keys only for what is set, in Meta's shapes."""
        return merge(self._fields_json(), self.extra)

    def to_json(self) -> JSON:
        """The request's ``interactive`` field (`to_interactive`)."""
        return self.to_interactive()

    def encoded(self) -> bytes:
        """`to_interactive` as compact UTF-8 JSON, made with the message and kept: a message is
        immutable, so it is the same for every recipient and every attempt.
        """
        return self._encoded

    # The frame: header, body, footer ------------------------------------------------------

    def _check(self, out: list[Problem]) -> None:
        header = getattr(self, "header", None)
        if header is not None:
            check_header(out, f"{PATH}.header", header, self.HEADERS)
        elif self.HEADER_REQUIRED:
            kinds = ", ".join(h.kind for h in self.HEADERS)
            out.append(Problem(f"{PATH}.header", f"is required ({kinds})"))
        if self.BODY_MAX is not None:
            rules.text(
                out,
                f"{PATH}.body.text",
                getattr(self, "body", None),
                self.BODY_MAX,
                required=self.BODY_REQUIRED,
            )
        if self.FOOTER:
            footer = getattr(self, "footer", None)
            rules.text(out, f"{PATH}.footer.text", footer, rules.FOOTER_MAX, required=False)
        self._check_action(f"{PATH}.action", out)

    def _fields_json(self) -> JSON:
        doc: JSON = {"type": self.TYPE}
        header = getattr(self, "header", None)
        if header is not None:
            doc["header"] = header._json()
        body = getattr(self, "body", None)
        if body is not None:
            doc["body"] = {"text": body}
        footer = getattr(self, "footer", None)
        if footer is not None:
            doc["footer"] = {"text": footer}
        doc["action"] = self._action_json()
        return doc

    @classmethod
    def _read(cls, doc: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        allowed = {
            "header": bool(cls.HEADERS),
            "body": cls.BODY_MAX is not None,
            "footer": cls.FOOTER,
        }
        for part, ok in allowed.items():
            if part in doc and not ok:
                reader.problem(f"{PATH}.{part}", f"is not allowed in {cls.TYPE!r} messages")
        if allowed["header"]:
            fields["header"] = None
            if "header" in doc:
                header = reader.mapping(doc["header"], f"{PATH}.header")
                fields["header"] = (
                    UNREADABLE if header is None else read_header(header, f"{PATH}.header", reader)
                )
        if allowed["body"]:
            fields["body"] = reader.text_of(doc, "body", PATH)
        if allowed["footer"]:
            fields["footer"] = reader.text_of(doc, "footer", PATH)
        if "action" not in doc:
            reader.problem(f"{PATH}.action", "is required")
        action = reader.optional_object(doc, "action", PATH)
        fields.update(cls._read_action(action, f"{PATH}.action", reader))
        return fields

    # Each type's action ---------------------------------------------------------------------

    def _check_action(self, path: str, out: list[Problem]) -> None:
        raise NotImplementedError

    def _action_json(self) -> JSON:
        raise NotImplementedError

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        raise NotImplementedError


def _parameters(action: Mapping[str, Any], name: str, path: str, reader: Reader) -> Any:
    """The ``parameters`` of a named action (``{"name": ..., "parameters": {...}}``)."""
    reader.constant(action, "name", name, path)
    return reader.optional_object(action, "parameters", path)


# Reply buttons ------------------------------------------------------------------------------


@attrs.frozen
class ButtonMessage(_Message):
    """Up to three quick-reply buttons under a body text.

    >>> ButtonMessage("Table for two at 8pm?", [("yes", "Book it"), ("no", "Not now")])
    ... # doctest: +ELLIPSIS
    ButtonMessage(body='Table for two at 8pm?', buttons=(ReplyButton(id='yes', ...), ...), ...)
    """

    TYPE: ClassVar[str] = "button"
    HEADERS: ClassVar[tuple[type[Header], ...]] = HEADER_TYPES

    body: str
    buttons: tuple[ReplyButton, ...] = attrs.field(converter=to_buttons)
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        check_buttons(out, f"{path}.buttons", self.buttons, rules.BUTTONS_MIN, rules.BUTTONS_MAX)

    def _action_json(self) -> JSON:
        return {"buttons": [button._json() for button in self.buttons]}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        return {"buttons": read_buttons(action.get("buttons"), f"{path}.buttons", reader)}


# Lists --------------------------------------------------------------------------------------


def _to_sections(value: Iterable[Section] | Iterable[RowLike]) -> tuple[Section, ...]:
    """A converter: a list of rows (not sections) is one section without a title."""
    items: Any = as_tuple(value, lambda v: v)
    if isinstance(items, tuple) and items and all(isinstance(v, (Row, tuple)) for v in items):
        return (Section(None, items),)
    return items  # type: ignore[no-any-return]


def _check_sections(
    out: list[Problem],
    path: str,
    sections: object,
    kind: type[Section] | type[ProductSection],
    items_key: str,
    items_max: int,
) -> list[tuple[str, Any]]:
    """The rules lists and product lists share; returns each item found with its path."""
    if not isinstance(sections, tuple):
        out.append(Problem(path, f"must be a list of sections, got {rules.type_name(sections)}"))
        return []
    rules.count(out, path, len(sections), rules.SECTIONS_MIN, rules.SECTIONS_MAX, "sections")
    found: list[tuple[str, Any]] = []
    for i, section in enumerate(sections):
        where = f"{path}[{i}]"
        if not isinstance(section, kind):
            out.append(Problem(where, f"must be a {kind.__name__}, got {rules.show(section)}"))
            continue
        rules.text(
            out,
            f"{where}.title",
            section.title,
            rules.SECTION_TITLE_MAX,
            required=len(sections) > 1,
        )
        items: object = section.rows if isinstance(section, Section) else section.items
        if not isinstance(items, tuple):
            out.append(Problem(f"{where}.{items_key}", "must be a list"))
            continue
        if not items:
            out.append(Problem(f"{where}.{items_key}", "must have at least 1 item, got 0"))
        found.extend((f"{where}.{items_key}[{j}]", item) for j, item in enumerate(items))
    if sections and all(isinstance(s, kind) for s in sections):
        rules.count(out, path, len(found), 1, items_max, f"{items_key} in all sections together")
    return found


@attrs.frozen
class ListMessage(_Message):
    """A menu of up to ten rows in up to ten sections, opened by a button.

    ``sections`` may be a list of rows (``Row`` or ``(id, title[, description])``) for a list
    with one untitled section.
    """

    TYPE: ClassVar[str] = "list"
    HEADERS: ClassVar[tuple[type[Header], ...]] = (TextHeader,)
    BODY_MAX: ClassVar[int | None] = rules.LIST_BODY_MAX

    body: str
    button: str
    sections: tuple[Section, ...] = attrs.field(converter=_to_sections)
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        rules.text(out, f"{path}.button", self.button, rules.LIST_BUTTON_MAX)
        found = _check_sections(
            out, f"{path}.sections", self.sections, Section, "rows", rules.ROWS_MAX
        )
        rows = []
        for where, row in found:
            if isinstance(row, Row):
                row._check(where, out)
                rows.append((f"{where}.id", row.id))
            else:
                out.append(Problem(where, f"must be a Row or (id, title), got {rules.show(row)}"))
        rules.unique(out, rows, "row id")

    def _action_json(self) -> JSON:
        return {
            "button": self.button,
            "sections": [section._json() for section in self.sections],
        }

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        sections = reader.each(
            action.get("sections"), f"{path}.sections", lambda o, p, _: Section._read(o, p, reader)
        )
        return {"button": action.get("button"), "sections": tuple(sections)}


# Call to action: a URL ----------------------------------------------------------------------


@attrs.frozen
class CtaUrlMessage(_Message):
    """One button that opens a URL, so the link itself need not appear in the text."""

    TYPE: ClassVar[str] = "cta_url"
    HEADERS: ClassVar[tuple[type[Header], ...]] = HEADER_TYPES

    body: str
    display_text: str
    url: str
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.parameters"
        rules.text(out, f"{where}.display_text", self.display_text, rules.CTA_DISPLAY_TEXT_MAX)
        rules.https_url(out, f"{where}.url", self.url, schemes=("https", "http"))

    def _action_json(self) -> JSON:
        return {
            "name": "cta_url",
            "parameters": {"display_text": self.display_text, "url": self.url},
        }

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = _parameters(action, "cta_url", path, reader)
        return {"display_text": parameters.get("display_text"), "url": parameters.get("url")}


# Flows --------------------------------------------------------------------------------------


@attrs.frozen
class FlowMessage(_Message):
    """Opens a WhatsApp Flow, by ``flow_id`` or by ``flow_name`` (exactly one).

    ``screen`` and ``data`` make the ``flow_action_payload`` of a ``navigate`` action.
    """

    TYPE: ClassVar[str] = "flow"
    HEADERS: ClassVar[tuple[type[Header], ...]] = HEADER_TYPES

    body: str
    flow_cta: str
    flow_id: str | None = attrs.field(default=None, kw_only=True)
    flow_name: str | None = attrs.field(default=None, kw_only=True)
    flow_token: str | None = attrs.field(default=None, kw_only=True)
    mode: str | None = attrs.field(default=None, kw_only=True)
    flow_action: str | None = attrs.field(default=None, kw_only=True)
    screen: str | None = attrs.field(default=None, kw_only=True)
    data: dict[str, Any] | None = attrs.field(
        default=None, kw_only=True, hash=False, converter=_json_object
    )
    flow_message_version: str = attrs.field(default=rules.FLOW_MESSAGE_VERSION, kw_only=True)
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.parameters"
        if self.flow_message_version != rules.FLOW_MESSAGE_VERSION:
            out.append(
                Problem(
                    f"{where}.flow_message_version",
                    f"must be {rules.FLOW_MESSAGE_VERSION!r}, "
                    f"got {rules.show(self.flow_message_version)}",
                )
            )
        if (self.flow_id is None) == (self.flow_name is None):
            out.append(Problem(where, "must have exactly one of 'flow_id' or 'flow_name'"))
        if self.flow_id is not None:
            rules.identifier(out, f"{where}.flow_id", self.flow_id, rules.ID_MAX)
        if self.flow_name is not None:
            rules.text(out, f"{where}.flow_name", self.flow_name, rules.ID_MAX)
        rules.text(out, f"{where}.flow_cta", self.flow_cta, rules.FLOW_CTA_MAX)
        rules.text(
            out, f"{where}.flow_token", self.flow_token, rules.FLOW_TOKEN_MAX, required=False
        )
        rules.choice(out, f"{where}.mode", self.mode, rules.FLOW_MODES, required=False)
        rules.choice(
            out, f"{where}.flow_action", self.flow_action, rules.FLOW_ACTIONS, required=False
        )
        payload = f"{where}.flow_action_payload"
        if self.screen is None and self.data is None:
            return
        if self.flow_action not in (None, "navigate"):
            out.append(Problem(payload, "is only allowed with flow_action 'navigate'"))
        # Meta's OpenAPI: screen is optional; the flow opens at its FIRST_ENTRY_SCREEN then.
        rules.text(out, f"{payload}.screen", self.screen, rules.ID_MAX, required=False)
        if self.data is not None:
            rules.non_empty_object(out, f"{payload}.data", self.data)
            if not rules.is_json_value(self.data):
                out.append(Problem(f"{payload}.data", "must hold JSON values only"))

    def _action_json(self) -> JSON:
        parameters: JSON = {"flow_message_version": self.flow_message_version}
        for key in ("flow_token", "flow_id", "flow_name", "flow_cta", "mode", "flow_action"):
            value = getattr(self, key)
            if value is not None:
                parameters[key] = value
        if self.screen is not None or self.data is not None:
            payload: JSON = {}
            if self.screen is not None:
                payload["screen"] = self.screen
            if self.data is not None:
                payload["data"] = copy.deepcopy(self.data)
            parameters["flow_action_payload"] = payload
        return {"name": "flow", "parameters": parameters}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = _parameters(action, "flow", path, reader)
        where = f"{path}.parameters"
        payload = reader.optional_object(parameters, "flow_action_payload", where)
        fields = {
            key: parameters.get(key)
            for key in ("flow_id", "flow_name", "flow_token", "mode", "flow_action", "flow_cta")
        }
        fields["flow_message_version"] = parameters.get("flow_message_version")
        fields["screen"] = payload.get("screen")
        fields["data"] = payload.get("data")
        return fields


# Catalogs and products ----------------------------------------------------------------------


@attrs.frozen
class ProductMessage(_Message):
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
class ProductListMessage(_Message):
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
        found = _check_sections(
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
class CatalogMessage(_Message):
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
        parameters = _parameters(action, "catalog_message", path, reader)
        return {"thumbnail_product_retailer_id": parameters.get("thumbnail_product_retailer_id")}


# Location, address, voice call ---------------------------------------------------------------


class _NamedAction(_Message):
    """A message whose action is only a name: ``{"name": ACTION}``."""

    ACTION: ClassVar[str]

    def _check_action(self, path: str, out: list[Problem]) -> None:
        pass  # the action is fixed

    def _action_json(self) -> JSON:
        return {"name": self.ACTION}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        reader.constant(action, "name", cls.ACTION, path)
        return {}


@attrs.frozen
class LocationRequestMessage(_NamedAction):
    """Asks the user to share their location: a body text and nothing else."""

    TYPE: ClassVar[str] = "location_request_message"
    ACTION: ClassVar[str] = "send_location"
    FOOTER: ClassVar[bool] = False

    body: str
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )


@attrs.frozen
class AddressMessage(_Message):
    """Asks the user for a delivery address (India only today); fields may be prefilled."""

    TYPE: ClassVar[str] = "address_message"
    HEADERS: ClassVar[tuple[type[Header], ...]] = (TextHeader,)

    body: str
    country: str = "IN"
    values: dict[str, Any] | None = attrs.field(
        default=None, kw_only=True, hash=False, converter=_json_object
    )
    saved_addresses: list[Any] | None = attrs.field(
        default=None, kw_only=True, hash=False, converter=_json_array
    )
    validation_errors: dict[str, Any] | None = attrs.field(
        default=None, kw_only=True, hash=False, converter=_json_object
    )
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.parameters"
        rules.choice(out, f"{where}.country", self.country, rules.ADDRESS_COUNTRIES, required=True)
        for key in ("values", "validation_errors"):
            value = getattr(self, key)
            if value is not None:
                rules.non_empty_object(out, f"{where}.{key}", value)
        if self.saved_addresses is not None:
            if not isinstance(self.saved_addresses, list) or not self.saved_addresses:
                out.append(Problem(f"{where}.saved_addresses", "must be a non-empty list"))
            else:
                for i, saved in enumerate(self.saved_addresses):
                    rules.non_empty_object(out, f"{where}.saved_addresses[{i}]", saved)
        free_form = (self.values, self.saved_addresses, self.validation_errors)
        if not rules.is_json_value([v for v in free_form if v is not None]):
            out.append(Problem(where, "must hold JSON values only"))

    def _action_json(self) -> JSON:
        parameters: JSON = {"country": self.country}
        for key in ("values", "saved_addresses", "validation_errors"):
            value = getattr(self, key)
            if value is not None:
                parameters[key] = copy.deepcopy(value)
        return {"name": "address_message", "parameters": parameters}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = _parameters(action, "address_message", path, reader)
        keys = ("country", "values", "saved_addresses", "validation_errors")
        return {key: parameters.get(key) for key in keys}


@attrs.frozen
class VoiceCallMessage(_Message):
    """A button that starts a WhatsApp voice call with the business."""

    TYPE: ClassVar[str] = "voice_call"
    HEADERS: ClassVar[tuple[type[Header], ...]] = (TextHeader,)

    body: str
    display_text: str | None = attrs.field(default=None, kw_only=True)
    ttl_minutes: int | None = attrs.field(default=None, kw_only=True)
    payload: str | None = attrs.field(default=None, kw_only=True)
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.parameters"
        rules.text(
            out,
            f"{where}.display_text",
            self.display_text,
            rules.VOICE_CALL_DISPLAY_TEXT_MAX,
            required=False,
        )
        if self.ttl_minutes is not None:
            rules.integer(
                out, f"{where}.ttl_minutes", self.ttl_minutes, *rules.VOICE_CALL_TTL_MINUTES
            )
        rules.text(
            out, f"{where}.payload", self.payload, rules.VOICE_CALL_PAYLOAD_MAX, required=False
        )

    def _action_json(self) -> JSON:
        action: JSON = {"name": "voice_call"}
        parameters = {
            key: getattr(self, key)
            for key in ("display_text", "ttl_minutes", "payload")
            if getattr(self, key) is not None
        }
        if parameters:
            action["parameters"] = parameters
        return action

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = _parameters(action, "voice_call", path, reader)
        return {key: parameters.get(key) for key in ("display_text", "ttl_minutes", "payload")}


# Calls, contacts, orders ---------------------------------------------------------------------


@attrs.frozen
class CallPermissionRequestMessage(_NamedAction):
    """Asks the user to let the business call them on WhatsApp; the body is optional."""

    TYPE: ClassVar[str] = "call_permission_request"
    ACTION: ClassVar[str] = "call_permission_request"
    BODY_REQUIRED: ClassVar[bool] = False
    FOOTER: ClassVar[bool] = False

    body: str | None = None
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )


@attrs.frozen
class RequestContactInfoMessage(_NamedAction):
    """Asks the user to share their phone number (a user known only by their business-scoped
    id, say); WhatsApp labels the button in the user's language.
    """

    TYPE: ClassVar[str] = "request_contact_info"
    ACTION: ClassVar[str] = "request_contact_info"
    FOOTER: ClassVar[bool] = False

    body: str
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )


def _amount(out: list[Problem], path: str, value: object) -> None:
    """An amount as Meta writes money: ``{"value": 1100, "offset": 100}`` is 11.00."""
    if not isinstance(value, Mapping):
        out.append(Problem(path, f"must be an amount object, got {rules.type_name(value)}"))
        return
    rules.integer(out, f"{path}.value", value.get("value"), 0, rules.AMOUNT_MAX)
    rules.integer(out, f"{path}.offset", value.get("offset"), 1, rules.AMOUNT_MAX)


@attrs.frozen
class OrderDetailsMessage(_Message):
    """A payment request for an order (Meta's ``review_and_pay``): the order's items and
    amounts, and how to pay. The documented fields are typed; any further parameter given in
    ``extra`` or read from JSON is kept.
    """

    TYPE: ClassVar[str] = "order_details"
    HEADERS: ClassVar[tuple[type[Header], ...]] = (ImageHeader,)

    body: str
    reference_id: str
    total_amount: dict[str, Any] = attrs.field(converter=_json_object)
    order: dict[str, Any] = attrs.field(converter=_json_object)
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
        parameters = _parameters(action, "review_and_pay", path, reader)
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
class OrderStatusMessage(_Message):
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
        parameters = _parameters(action, "review_order", path, reader)
        order = reader.optional_object(parameters, "order", f"{path}.parameters")
        return {
            "reference_id": parameters.get("reference_id"),
            "status": order.get("status"),
            "description": order.get("description"),
        }


# Carousel -----------------------------------------------------------------------------------

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
            parameters = _parameters(action, "cta_url", f"{path}.action", reader)
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
class CarouselMessage(_Message):
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


def _describe(shape: tuple[str, int]) -> str:
    kind, buttons = shape
    if kind == "product":
        return "a product"
    return "a URL button" if kind == "cta_url" else f"{buttons} quick-reply buttons"


# Reading any of them ------------------------------------------------------------------------

InteractiveMessage = (
    ButtonMessage
    | ListMessage
    | CtaUrlMessage
    | FlowMessage
    | ProductMessage
    | ProductListMessage
    | CatalogMessage
    | LocationRequestMessage
    | AddressMessage
    | VoiceCallMessage
    | CarouselMessage
    | CallPermissionRequestMessage
    | RequestContactInfoMessage
    | OrderDetailsMessage
    | OrderStatusMessage
)

MESSAGE_TYPES: tuple[type[InteractiveMessage], ...] = (
    ButtonMessage,
    ListMessage,
    CtaUrlMessage,
    FlowMessage,
    ProductMessage,
    ProductListMessage,
    CatalogMessage,
    LocationRequestMessage,
    AddressMessage,
    VoiceCallMessage,
    CarouselMessage,
    CallPermissionRequestMessage,
    RequestContactInfoMessage,
    OrderDetailsMessage,
    OrderStatusMessage,
)
_BY_TYPE: dict[str, type[InteractiveMessage]] = {cls.TYPE: cls for cls in MESSAGE_TYPES}


def _covered(path: str, seen: list[str]) -> bool:
    return any(s == path or s.startswith((f"{path}.", f"{path}[")) for s in seen)


def parse_interactive(document: Mapping[str, Any]) -> InteractiveMessage:
    """Read Meta's ``interactive`` object into a message, checking every rule.

    Raises `ValidationError` listing every problem found. Fields we do not model are kept, so
    ``parse_interactive(d).to_interactive() == d`` for every valid ``d``.
    """
    reader = Reader()
    doc = reader.mapping(document, PATH)
    reader.raise_if_any()
    assert doc is not None
    kind = doc.get("type")
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(_BY_TYPE)
        raise ValidationError.at(f"{PATH}.type", f"must be one of {known}, got {rules.show(kind)}")
    fields = cls._read(doc, reader)
    try:
        message = cls(**fields)
    except ValidationError as refused:
        # Where the reader found a wrong shape, the checks see only its consequence: drop
        # what they say at the reader's paths and above them.
        seen = [problem.path for problem in reader.problems]
        reader.raise_if_any([p for p in refused.errors if not _covered(p.path, seen)])
    reader.raise_if_any()
    return with_leftover(message, doc)
