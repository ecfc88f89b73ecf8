"""Template messages: an approved template by name and language, with its parameters.

Outside the 24-hour customer service window only a template can reach a user, and a template's
buttons (quick replies, a URL with a dynamic suffix, copy code, flow) make it the interactive
message of business-initiated conversations. A `TemplateMessage` writes Meta's ``template``
object (`to_template`) and reads one back (`parse_template`), checked like the interactive
types; whether it fits the approved template is `TemplateDefinition.check`'s business
(gupshup_async.template_definitions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._json import JSON, Reader, merge, seal
from gupshup_async.messages._parts import (
    DocumentHeader,
    ImageHeader,
    VideoHeader,
    copy_extra,
    with_leftover,
)
from gupshup_async.messages._template_parts import (
    BODY_TYPES,
    BUTTON_INDEX_MAX,
    BUTTON_TYPES,
    HEADER_PARAMETER_MAX,
    HEADER_TYPES,
    LANGUAGE,
    NAME,
    NAME_MAX,
    PATH,
    BodyParameter,
    TemplateButton,
    TemplateButtonBase,
    TemplateCatalogButton,
    TemplateCopyCode,
    TemplateCurrency,
    TemplateDateTime,
    TemplateFlowButton,
    TemplateHeader,
    TemplateLocation,
    TemplateMultiProductButton,
    TemplateOrderDetailsButton,
    TemplateProduct,
    TemplateQuickReply,
    TemplateText,
    TemplateUrlButton,
    is_named,
    to_body,
    to_header,
    to_tuple,
)

# The parts a message and a carousel card share -------------------------------------------

# Meta, "Media card carousel templates": up to 10 cards, each an image or video header, an
# optional body and up to two buttons; every card of a template has the same components.
CARDS_MAX: Final = 10
CARD_BUTTONS_MAX: Final = 2
_CARD_HEADER_TYPES = (ImageHeader, VideoHeader, TemplateProduct)


def _part_paths(
    prefix: str,
    header: object,
    body: object,
    buttons: object,
    *,
    carousel: bool = False,
    offer: bool = False,
) -> tuple[str | None, str | None, str | None, list[str]]:
    """Where header, body, carousel and each button land, as `_components` writes them (a
    limited-time offer comes right after the header).
    """
    n = 0
    header_path = body_path = carousel_path = None
    if header is not None:
        header_path, n = f"{prefix}.components[{n}]", n + 1
    if offer:
        n += 1
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
    if not isinstance(header, allowed) or not isinstance(header, HEADER_TYPES):
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
        if not isinstance(parameter, BODY_TYPES):
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
        if not isinstance(button, TemplateButtonBase):
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
    body: tuple[BodyParameter, ...] = attrs.field(default=(), kw_only=True, converter=to_body)
    buttons: tuple[TemplateButton, ...] = attrs.field(default=(), kw_only=True, converter=to_tuple)

    @property
    def named(self) -> bool:
        return is_named(self.body)

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
            (b.index, b.sub_type) for b in self.buttons if isinstance(b, TemplateButtonBase)
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
    header: TemplateHeader | None = attrs.field(default=None, kw_only=True, converter=to_header)
    body: tuple[BodyParameter, ...] = attrs.field(default=(), kw_only=True, converter=to_body)
    buttons: tuple[TemplateButton, ...] = attrs.field(default=(), kw_only=True, converter=to_tuple)
    cards: tuple[TemplateCard, ...] = attrs.field(default=(), kw_only=True, converter=to_tuple)
    #: A limited-time offer's expiry: a Unix time in milliseconds (Meta's
    #: ``expiration_time_ms``), shown as a countdown. None: no offer component.
    offer_expires_ms: int | None = attrs.field(default=None, kw_only=True)
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
        return is_named(self.body)

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
        offer = self.offer_expires_ms is not None
        return _part_paths(
            PATH, self.header, self.body, self.buttons, carousel=carousel, offer=offer
        )

    @property
    def offer_path(self) -> str | None:
        """The path of the limited-time offer component, for a message with one."""
        if self.offer_expires_ms is None:
            return None
        return f"{PATH}.components[{0 if self.header is None else 1}]"

    def _check(self, out: list[Problem]) -> None:
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            out.append(
                Problem(
                    f"{PATH}.name",
                    "must be a template name: lowercase letters, digits and underscores, "
                    f"got {rules.show(self.name)}",
                )
            )
        elif len(self.name) > NAME_MAX:
            out.append(Problem(f"{PATH}.name", f"must be at most {NAME_MAX} characters"))
        if not isinstance(self.language, str) or not LANGUAGE.fullmatch(self.language):
            out.append(
                Problem(
                    f"{PATH}.language.code",
                    f"must be a language code such as en or en_US, got {rules.show(self.language)}",
                )
            )
        header_path, body_path, carousel_path, button_paths = self._paths()
        _check_header(self.header, header_path, out, HEADER_TYPES)
        _check_body(self.body, body_path or f"{PATH}.components[0]", out)
        cards: object = self.cards
        if not isinstance(cards, tuple):
            out.append(Problem(f"{PATH}.components", "cards must be a list of TemplateCard"))
        elif carousel_path is not None:
            self._check_cards(carousel_path, out)
        where = f"{PATH}.components"
        _check_buttons(self.buttons, button_paths, where, out, BUTTON_INDEX_MAX)
        expires: object = self.offer_expires_ms
        if expires is not None and (
            isinstance(expires, bool) or not isinstance(expires, int) or expires <= 0
        ):
            out.append(
                Problem(
                    f"{self.offer_path}.parameters[0].limited_time_offer.expiration_time_ms",
                    f"must be a Unix time in milliseconds, got {rules.show(expires)}",
                )
            )

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
        catalogs = [
            (i, card.header.catalog_id)
            for i, card in enumerate(cards)
            if isinstance(card, TemplateCard) and isinstance(card.header, TemplateProduct)
        ]
        for i, catalog in catalogs[1:]:
            if catalog != catalogs[0][1]:  # Meta: a product carousel shows one catalog
                out.append(
                    Problem(
                        f"{path}.cards[{i}].components[0].parameters[0].product.catalog_id",
                        f"every product card must come from one catalog: card {catalogs[0][0]} "
                        f"is from {rules.show(catalogs[0][1])}, "
                        f"this one from {rules.show(catalog)}",
                    )
                )
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
        if self.offer_expires_ms is not None:
            offer = {"expiration_time_ms": self.offer_expires_ms}
            parameters = [{"type": "limited_time_offer", "limited_time_offer": offer}]
            at = 0 if self.header is None else 1
            components.insert(at, {"type": "limited_time_offer", "parameters": parameters})
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
        offer_expires_ms=fields["offer"],
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
    elif kind == "limited_time_offer":
        found = reader.each(parameters, f"{path}.parameters", lambda o, p, i: o)
        offer = found[0].get("limited_time_offer") if found else None
        if isinstance(offer, Mapping):
            fields["offer"] = offer.get("expiration_time_ms")
    # Other components ride along in ``extra``.


def _read_parts(
    components: object, path: str, reader: Reader, *, card: bool = False
) -> dict[str, Any]:
    """Header, body, buttons and (but in a card) cards, read from a components array."""
    fields: dict[str, Any] = {
        "header": None,
        "body": (),
        "buttons": [],
        "cards": [],
        "offer": None,
    }
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
    if kind == "product":
        product = reader.mapping(obj.get("product"), f"{path}.product") or {}
        return TemplateProduct(
            product.get("product_retailer_id"),  # type: ignore[arg-type]
            product.get("catalog_id"),  # type: ignore[arg-type]
        )
    media_types = {"image": ImageHeader, "video": VideoHeader, "document": DocumentHeader}
    if kind in media_types:
        cls = media_types[kind]
        media = reader.mapping(obj.get(kind), f"{path}.{kind}") or {}
        extra = {"filename": media.get("filename")} if cls is DocumentHeader else {}
        return cls(media.get("link"), id=media.get("id"), **extra)
    reader.problem(
        f"{path}.type",
        f"must be text, image, video, document, location or product, got {rules.show(kind)}",
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
    # Meta writes them in either case (its coupon example: "COPY_CODE"); the spelling given is
    # kept, as every field read is, and written back.
    cls = BUTTON_TYPES.get(sub_type.lower()) if isinstance(sub_type, str) else None
    if cls is None:
        kinds = ", ".join(BUTTON_TYPES)
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
    if cls is TemplateCatalogButton:
        return TemplateCatalogButton(index, action.get("thumbnail_product_retailer_id"))
    if cls is TemplateMultiProductButton:
        sections = action.get("sections")
        return TemplateMultiProductButton(
            index,
            action.get("thumbnail_product_retailer_id"),  # type: ignore[arg-type]
            sections=sections,
        )
    if cls is TemplateOrderDetailsButton:
        return TemplateOrderDetailsButton(index, action.get("order_details"))
    return TemplateFlowButton(
        index, action.get("flow_token"), action_data=action.get("flow_action_data")
    )
