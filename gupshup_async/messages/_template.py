"""Template messages: an approved template by name and language, with its parameters.

Outside the 24-hour customer service window only a template can reach a user, and a template's
buttons (quick replies, a URL with a dynamic suffix, copy code, flow) make it the interactive
message of business-initiated conversations. A `TemplateMessage` writes Meta's ``template``
object (`to_template`) and reads one back (`parse_template`), checked like the interactive
types; whether it fits the approved template is `TemplateDefinition.check`'s business
(gupshup_async.template_definitions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._json import JSON, Reader, merge, seal
from gupshup_async.messages._parts import (
    DocumentHeader,
    ImageHeader,
    VideoHeader,
    as_tuple,
    copy_extra,
    with_leftover,
)

PATH = "template"

# Meta, "Create and manage templates": names are lowercase letters, digits and underscores,
# at most 512 characters.
NAME_MAX: Final = 512
_NAME = re.compile(r"[a-z0-9_]+")
# Meta, "Supported languages": ``en``, ``en_US``, ``pt_BR``, ``zh_HK``...
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z0-9]{2,4})?")
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
    if not isinstance(name, str) or not _NAME.fullmatch(name):
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


BodyParameter = TemplateText | TemplateCurrency | TemplateDateTime
TemplateHeader = TemplateText | ImageHeader | VideoHeader | DocumentHeader | TemplateLocation
_BODY_TYPES = (TemplateText, TemplateCurrency, TemplateDateTime)
_HEADER_TYPES = (TemplateText, ImageHeader, VideoHeader, DocumentHeader, TemplateLocation)


def _to_header(value: TemplateHeader | str | None) -> TemplateHeader | None:
    return TemplateText(value) if isinstance(value, str) else value


def _to_body(
    value: Iterable[BodyParameter | str] | Mapping[str, BodyParameter | str],
) -> tuple[BodyParameter, ...]:
    """Positional parameters in order, or named ones from a mapping ``{name: value}``."""
    if isinstance(value, Mapping):
        return tuple(_named(name, item) for name, item in value.items())
    return as_tuple(value, lambda v: TemplateText(v) if isinstance(v, str) else v)  # type: ignore[no-any-return]


def _is_named(body: tuple[BodyParameter, ...]) -> bool:
    return any(getattr(p, "name", None) is not None for p in body)


def _named(name: str, value: BodyParameter | str) -> BodyParameter:
    if isinstance(value, str):
        return TemplateText(value, name=name)
    if isinstance(value, _BODY_TYPES) and value.name is None:
        return attrs.evolve(value, name=name)
    return value


# Buttons ------------------------------------------------------------------------------------


@attrs.frozen
class _TemplateButton:
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
class TemplateQuickReply(_TemplateButton):
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
class TemplateUrlButton(_TemplateButton):
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
class TemplateCopyCode(_TemplateButton):
    """The code copy-code button ``index`` copies (a coupon, at most 15 characters)."""

    code: str
    sub_type: ClassVar[str] = "copy_code"

    def _check_parameter(self, path: str, out: list[Problem]) -> None:
        rules.identifier(out, f"{path}.coupon_code", self.code, COPY_CODE_MAX)

    def _parameter(self) -> JSON:
        return {"type": "coupon_code", "coupon_code": self.code}


@attrs.frozen
class TemplateFlowButton(_TemplateButton):
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


TemplateButton = TemplateQuickReply | TemplateUrlButton | TemplateCopyCode | TemplateFlowButton
_BUTTON_TYPES: dict[str, type[TemplateButton]] = {
    cls.sub_type: cls
    for cls in (TemplateQuickReply, TemplateUrlButton, TemplateCopyCode, TemplateFlowButton)
}


def _to_tuple(value: Any) -> Any:
    """A converter: buttons or cards, any iterable of them, as a tuple (anything else is left
    for the check to report, with its path).
    """
    return as_tuple(value, lambda item: item)


# The parts a message and a carousel card share -------------------------------------------

# Meta, "Media card carousel templates": up to 10 cards, each an image or video header, an
# optional body and up to two buttons; every card of a template has the same components.
CARDS_MAX: Final = 10
CARD_BUTTONS_MAX: Final = 2
_CARD_HEADER_TYPES = (ImageHeader, VideoHeader)


def _part_paths(
    prefix: str, header: object, body: object, buttons: object, *, carousel: bool = False
) -> tuple[str | None, str | None, str | None, list[str]]:
    """Where header, body, carousel and each button land, as `_components` writes them."""
    n = 0
    header_path = body_path = carousel_path = None
    if header is not None:
        header_path, n = f"{prefix}.components[{n}]", n + 1
    if body:
        body_path, n = f"{prefix}.components[{n}]", n + 1
    if carousel:
        carousel_path, n = f"{prefix}.components[{n}]", n + 1
    count = len(buttons) if isinstance(buttons, tuple) else 0
    return (
        header_path,
        body_path,
        carousel_path,
        [f"{prefix}.components[{n + i}]" for i in range(count)],
    )


def _check_header(
    header: object, path: str | None, out: list[Problem], allowed: tuple[type, ...]
) -> None:
    if header is None:
        return
    where = f"{path}.parameters[0]"
    if not isinstance(header, allowed) or not isinstance(header, _HEADER_TYPES):
        kinds = ", ".join(getattr(kind, "kind", kind.__name__) for kind in allowed)
        out.append(
            Problem(where, f"must be a header parameter ({kinds}), got {rules.type_name(header)}")
        )
    elif isinstance(header, TemplateText):
        header._check(where, out, HEADER_PARAMETER_MAX)
    else:
        header._check(where, out)


def _check_body(body: object, path: str, out: list[Problem]) -> None:
    if not isinstance(body, tuple):
        out.append(Problem(f"{path}.parameters", "must be a list of parameters or a mapping"))
        return
    names: list[tuple[str, object]] = []
    for i, parameter in enumerate(body):
        where = f"{path}.parameters[{i}]"
        if not isinstance(parameter, _BODY_TYPES):
            shown = f"{rules.type_name(parameter)} {rules.show(parameter)}"
            out.append(Problem(where, f"must be a text, currency or date-time, got {shown}"))
            continue
        parameter._check(where, out)
        names.append((f"{where}.parameter_name", parameter.name))
    given = [name for _, name in names if name is not None]
    if given and len(given) != len(names):
        out.append(Problem(f"{path}.parameters", "must be all named or all positional, not a mix"))
    rules.unique(out, names, "parameter name")


def _check_buttons(
    buttons: object, paths: list[str], where: str, out: list[Problem], most: int
) -> None:
    if not isinstance(buttons, tuple):
        out.append(Problem(where, "buttons must be a list of button parameters"))
        return
    indexes: list[tuple[str, object]] = []
    for path, button in zip(paths, buttons, strict=True):
        if not isinstance(button, _TemplateButton):
            shown = rules.type_name(button)
            out.append(Problem(path, f"must be a template button parameter, got {shown}"))
            continue
        button._check(path, out, most)
        indexes.append((f"{path}.index", str(button.index)))
    rules.unique(out, indexes, "button index")


def _components(header: Any, body: Any, buttons: Any) -> list[JSON]:
    components: list[JSON] = []
    if header is not None:
        components.append({"type": "header", "parameters": [header._json()]})
    if body:
        components.append({"type": "body", "parameters": [p._json() for p in body]})
    components.extend(button._json() for button in buttons)
    return components


@attrs.frozen
class TemplateCard:
    """One card of a carousel template: its ``header`` (an image or a video, required), the
    card body's parameters, and its buttons' parameters (at most two buttons, index 0 or 1).
    """

    header: ImageHeader | VideoHeader
    body: tuple[BodyParameter, ...] = attrs.field(default=(), kw_only=True, converter=_to_body)
    buttons: tuple[TemplateButton, ...] = attrs.field(default=(), kw_only=True, converter=_to_tuple)

    @property
    def named(self) -> bool:
        return _is_named(self.body)

    def paths(self, prefix: str) -> tuple[str | None, str | None, list[str]]:
        header, body, _, buttons = _part_paths(prefix, self.header, self.body, self.buttons)
        return header, body, buttons

    def _check(self, path: str, out: list[Problem]) -> None:
        header_path, body_path, button_paths = self.paths(path)
        header: object = self.header  # a card read from JSON may lack one
        if header is None:
            out.append(Problem(f"{path}.components", "a card needs its header: an image or video"))
        _check_header(self.header, header_path, out, _CARD_HEADER_TYPES)
        _check_body(self.body, body_path or f"{path}.components[1]", out)
        _check_buttons(self.buttons, button_paths, f"{path}.components", out, CARD_BUTTONS_MAX - 1)
        if isinstance(self.buttons, tuple) and len(self.buttons) > CARD_BUTTONS_MAX:
            out.append(
                Problem(
                    f"{path}.components",
                    f"a card has at most {CARD_BUTTONS_MAX} buttons, got {len(self.buttons)}",
                )
            )

    def shape(self) -> tuple[object, int, tuple[tuple[int, str], ...]]:
        """What must be alike across a carousel's cards: header kind, body size, buttons."""
        buttons = tuple(
            (b.index, b.sub_type) for b in self.buttons if isinstance(b, _TemplateButton)
        )
        return (type(self.header), len(self.body), buttons)

    def _json(self, index: int) -> JSON:
        return {
            "card_index": index,
            "components": _components(self.header, self.body, self.buttons),
        }


# The message --------------------------------------------------------------------------------


@attrs.frozen
class TemplateMessage:
    """An approved template: ``TemplateMessage("order_shipped", "en", body=["Asha", "#4411"],
    buttons=[TemplateQuickReply(0, "track-4411")])``.

    ``header``: the header's parameter, for a template whose header has one (a text, or an
    image, video, document or location); ``body``: the body's parameters in order (strings are
    text), or a mapping ``{name: value}`` for a template with named parameters; ``buttons``:
    one entry per button that takes a parameter, by the button's index in the template;
    ``cards``: the `TemplateCard` of each card, for a carousel template.
    """

    name: str
    language: str
    header: TemplateHeader | None = attrs.field(default=None, kw_only=True, converter=_to_header)
    body: tuple[BodyParameter, ...] = attrs.field(default=(), kw_only=True, converter=_to_body)
    buttons: tuple[TemplateButton, ...] = attrs.field(default=(), kw_only=True, converter=_to_tuple)
    cards: tuple[TemplateCard, ...] = attrs.field(default=(), kw_only=True, converter=_to_tuple)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )
    _encoded: bytes = attrs.field(init=False, default=b"", eq=False, hash=False, repr=False)

    #: The request's ``type``: a template, not an interactive message.
    PAYLOAD: ClassVar[str] = "template"

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        self._check(problems)
        seal(self, problems, PATH, self.to_template)

    @property
    def named(self) -> bool:
        """Whether the body's parameters are named (``{{first_name}}``) rather than numbered."""
        return _is_named(self.body)

    @property
    def quick_replies(self) -> dict[str, int]:
        """The payload of each quick-reply button, and its index: what a tap answers with."""
        return {b.payload: b.index for b in self.buttons if isinstance(b, TemplateQuickReply)}

    def to_template(self) -> JSON:
        """Meta's ``template`` object: name, language, and the components that have parameters."""
        return merge(self._fields_json(), self.extra)

    def to_json(self) -> JSON:
        """The request's ``template`` field (`to_template`)."""
        return self.to_template()

    def encoded(self) -> bytes:
        """`to_template` as compact UTF-8 JSON, made with the message and kept."""
        return self._encoded

    # Where each part lands in Meta's JSON: components in order header, body, carousel,
    # buttons.

    def component_paths(self) -> tuple[str | None, str | None, list[str]]:
        """The paths of the header and body components and of each button, as written."""
        header, body, _, buttons = self._paths()
        return header, body, buttons

    @property
    def carousel_path(self) -> str | None:
        """The path of the carousel component, for a message with cards."""
        return self._paths()[2]

    def _paths(self) -> tuple[str | None, str | None, str | None, list[str]]:
        carousel = isinstance(self.cards, tuple) and bool(self.cards)
        return _part_paths(PATH, self.header, self.body, self.buttons, carousel=carousel)

    def _check(self, out: list[Problem]) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            out.append(
                Problem(
                    f"{PATH}.name",
                    "must be a template name: lowercase letters, digits and underscores, "
                    f"got {rules.show(self.name)}",
                )
            )
        elif len(self.name) > NAME_MAX:
            out.append(Problem(f"{PATH}.name", f"must be at most {NAME_MAX} characters"))
        if not isinstance(self.language, str) or not _LANGUAGE.fullmatch(self.language):
            out.append(
                Problem(
                    f"{PATH}.language.code",
                    f"must be a language code such as en or en_US, got {rules.show(self.language)}",
                )
            )
        header_path, body_path, carousel_path, button_paths = self._paths()
        _check_header(self.header, header_path, out, _HEADER_TYPES)
        _check_body(self.body, body_path or f"{PATH}.components[0]", out)
        cards: object = self.cards
        if not isinstance(cards, tuple):
            out.append(Problem(f"{PATH}.components", "cards must be a list of TemplateCard"))
        elif carousel_path is not None:
            self._check_cards(carousel_path, out)
        where = f"{PATH}.components"
        _check_buttons(self.buttons, button_paths, where, out, BUTTON_INDEX_MAX)

    def _check_cards(self, path: str, out: list[Problem]) -> None:
        if len(self.cards) > CARDS_MAX:
            out.append(
                Problem(
                    f"{path}.cards", f"must have at most {CARDS_MAX} cards, got {len(self.cards)}"
                )
            )
        shapes: list[tuple[int, object]] = []
        cards: tuple[object, ...] = self.cards
        for i, card in enumerate(cards):
            where = f"{path}.cards[{i}]"
            if not isinstance(card, TemplateCard):
                out.append(Problem(where, f"must be a TemplateCard, got {rules.type_name(card)}"))
                continue
            card._check(where, out)
            shapes.append((i, card.shape()))
        for i, shape in shapes[1:]:
            if shape != shapes[0][1]:
                out.append(
                    Problem(
                        f"{path}.cards[{i}]",
                        f"must have the same header kind, body parameters and buttons as card "
                        f"{shapes[0][0]}: every card of a carousel has the same components",
                    )
                )

    def _fields_json(self) -> JSON:
        components = _components(self.header, self.body, ())
        if self.cards:
            cards = [card._json(i) for i, card in enumerate(self.cards)]
            components.append({"type": "carousel", "cards": cards})
        components.extend(button._json() for button in self.buttons)
        doc: JSON = {"name": self.name, "language": {"code": self.language}}
        if components:
            doc["components"] = components
        return doc


# Reading ------------------------------------------------------------------------------------


def parse_template(document: Mapping[str, Any]) -> TemplateMessage:
    """Read Meta's ``template`` object into a `TemplateMessage`, checking every rule.

    Fields and components we do not model are kept, so ``parse_template(d).to_template() == d``
    for every valid ``d``.
    """
    reader = Reader()
    doc = reader.mapping(document, PATH)
    reader.raise_if_any()
    assert doc is not None
    language = reader.optional_object(doc, "language", PATH)
    if "language" not in doc:
        reader.problem(f"{PATH}.language", "is required")
    fields = _read_parts(doc.get("components", []), PATH, reader)
    reader.raise_if_any()
    message = TemplateMessage(
        doc.get("name"),  # type: ignore[arg-type]
        language.get("code"),  # type: ignore[arg-type]
        header=fields["header"],
        body=fields["body"],
        buttons=fields["buttons"],
        cards=fields["cards"],
    )
    return with_leftover(message, doc)


def _read_component(
    obj: Mapping[str, Any], path: str, reader: Reader, fields: dict[str, Any]
) -> None:
    kind = obj.get("type")
    parameters = obj.get("parameters", [])
    if kind == "header":
        found = reader.each(
            parameters, f"{path}.parameters", lambda o, p, i: _read_header(o, p, reader)
        )
        if found:
            fields["header"] = found[0]
    elif kind == "body":
        fields["body"] = tuple(
            reader.each(parameters, f"{path}.parameters", lambda o, p, i: _read_body(o, p, reader))
        )
    elif kind == "button":
        button = _read_button(obj, path, reader)
        if button is not None:
            fields["buttons"].append(button)
    elif kind == "carousel":
        fields["cards"] = reader.each(
            obj.get("cards"), f"{path}.cards", lambda o, p, i: _read_card(o, p, reader)
        )
    # Other components (limited-time offer...) ride along in ``extra``.


def _read_parts(
    components: object, path: str, reader: Reader, *, card: bool = False
) -> dict[str, Any]:
    """Header, body, buttons and (but in a card) cards, read from a components array."""
    fields: dict[str, Any] = {"header": None, "body": (), "buttons": [], "cards": []}
    for i, component in enumerate(reader.array(components, f"{path}.components")):
        where = f"{path}.components[{i}]"
        part = reader.mapping(component, where)
        if part is not None and not (card and part.get("type") == "carousel"):
            _read_component(part, where, reader, fields)
    return fields


def _read_card(obj: Mapping[str, Any], path: str, reader: Reader) -> TemplateCard:
    fields = _read_parts(obj.get("components", []), path, reader, card=True)
    return TemplateCard(fields["header"], body=fields["body"], buttons=fields["buttons"])


def _read_header(obj: Mapping[str, Any], path: str, reader: Reader) -> Any:
    kind = obj.get("type")
    if kind == "text":
        return TemplateText(obj.get("text"), name=obj.get("parameter_name"))  # type: ignore[arg-type]
    if kind == "location":
        where = reader.mapping(obj.get("location"), f"{path}.location") or {}
        return TemplateLocation(
            where.get("latitude"),  # type: ignore[arg-type]
            where.get("longitude"),  # type: ignore[arg-type]
            name=where.get("name"),
            address=where.get("address"),
        )
    media_types = {"image": ImageHeader, "video": VideoHeader, "document": DocumentHeader}
    if kind in media_types:
        cls = media_types[kind]
        media = reader.mapping(obj.get(kind), f"{path}.{kind}") or {}
        extra = {"filename": media.get("filename")} if cls is DocumentHeader else {}
        return cls(media.get("link"), id=media.get("id"), **extra)
    reader.problem(
        f"{path}.type", f"must be text, image, video, document or location, got {rules.show(kind)}"
    )
    return None


def _read_body(obj: Mapping[str, Any], path: str, reader: Reader) -> Any:
    kind, name = obj.get("type"), obj.get("parameter_name")
    if kind == "text":
        return TemplateText(obj.get("text"), name=name)  # type: ignore[arg-type]
    if kind == "currency":
        money = reader.mapping(obj.get("currency"), f"{path}.currency") or {}
        return TemplateCurrency(
            money.get("fallback_value"),  # type: ignore[arg-type]
            money.get("code"),  # type: ignore[arg-type]
            money.get("amount_1000"),  # type: ignore[arg-type]
            name=name,
        )
    if kind == "date_time":
        when = reader.mapping(obj.get("date_time"), f"{path}.date_time") or {}
        return TemplateDateTime(when.get("fallback_value"), name=name)  # type: ignore[arg-type]
    reader.problem(f"{path}.type", f"must be text, currency or date_time, got {rules.show(kind)}")
    return None


def _read_button(obj: Mapping[str, Any], path: str, reader: Reader) -> TemplateButton | None:
    sub_type = obj.get("sub_type")
    cls = _BUTTON_TYPES.get(sub_type) if isinstance(sub_type, str) else None
    if cls is None:
        kinds = ", ".join(_BUTTON_TYPES)
        reader.problem(f"{path}.sub_type", f"must be one of {kinds}, got {rules.show(sub_type)}")
        return None
    raw_index = obj.get("index")
    index: Any = raw_index
    if isinstance(raw_index, str) and raw_index.isdigit():
        index = int(raw_index)
    parameters = reader.array(obj.get("parameters"), f"{path}.parameters")
    first = reader.mapping(parameters[0], f"{path}.parameters[0]") if parameters else None
    if first is None:
        if parameters == []:
            reader.problem(f"{path}.parameters", "must have one parameter")
        return None
    if cls is TemplateQuickReply:
        return TemplateQuickReply(index, first.get("payload"))  # type: ignore[arg-type]
    if cls is TemplateUrlButton:
        return TemplateUrlButton(index, first.get("text"))  # type: ignore[arg-type]
    if cls is TemplateCopyCode:
        return TemplateCopyCode(index, first.get("coupon_code"))  # type: ignore[arg-type]
    action = reader.mapping(first.get("action", {}), f"{path}.parameters[0].action") or {}
    return TemplateFlowButton(
        index, action.get("flow_token"), action_data=action.get("flow_action_data")
    )
