"""WhatsApp template definitions, and the check of a `TemplateMessage` against its definition.

Meta refuses a template message whose parameters do not fit the approved template (132000 for
a wrong count, 132001 for a name or language that does not exist, 132012 for a parameter of the
wrong kind), often only after Gupshup accepted it. `TemplateDefinitions.check` finds the same
faults before sending, each with its path in the request. Definitions come from Gupshup
(`GupshupClient.templates`, which fetches them) or from a local JSON file in Meta's or
Gupshup's shape. Pure: parsing and checking only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from gupshup_async._template_specs import (
    HEADER_KINDS,
    PartsSpec,
    TemplateButtonSpec,
    TemplateCardSpec,
    button_spec,
    buttons_json,
    placeholders,
    text_of,
)
from gupshup_async.errors import Problem, ValidationError
from gupshup_async.messages import TemplateMessage

__all__ = ["TemplateButtonSpec", "TemplateCardSpec", "TemplateDefinition", "TemplateDefinitions"]


@attrs.frozen
class TemplateDefinition(PartsSpec):
    """What an approved template takes: ``header`` (``None``, ``"text"``, ``"image"``,
    ``"video"``, ``"document"`` or ``"location"``) and the placeholders of a text header; the
    body's placeholders in order (``("1", "2")``, or names); the buttons in order.
    """

    name: str
    language: str
    status: str = "APPROVED"
    category: str | None = None
    header: str | None = None
    header_placeholders: tuple[str, ...] = ()
    body_placeholders: tuple[str, ...] = ()
    buttons: tuple[TemplateButtonSpec, ...] = ()
    body: str = ""
    #: The cards of a carousel template; None when the listing did not say (then unchecked).
    cards: tuple[TemplateCardSpec, ...] | None = ()
    #: A limited-time offer whose expiry each message gives (``has_expiration``).
    offer_expires: bool = False

    # Reading the two shapes definitions come in --------------------------------------------

    @classmethod
    def from_meta(cls, obj: Mapping[str, Any]) -> TemplateDefinition:
        """Meta's shape (the Graph API's ``message_templates``, WhatsApp Manager exports):
        ``{"name", "language", "status", "category", "components": [...]}``.
        """
        header: str | None = None
        header_placeholders: tuple[str, ...] = ()
        body = ""
        buttons: list[TemplateButtonSpec] = []
        cards: tuple[TemplateCardSpec, ...] = ()
        offer_expires = False
        for component in obj.get("components") or ():
            kind = str(component.get("type", "")).upper()
            if kind == "LIMITED_TIME_OFFER":
                offer = component.get("limited_time_offer")
                offer_expires = isinstance(offer, Mapping) and offer.get("has_expiration") is True
            if kind == "HEADER":
                header = str(component.get("format", "TEXT")).lower()
                header_placeholders = placeholders(component.get("text"))
            elif kind == "BODY":
                body = str(component.get("text", ""))
            elif kind == "BUTTONS":
                buttons.extend(button_spec(b) for b in component.get("buttons") or ())
            elif kind == "CAROUSEL":
                cards = tuple(TemplateCardSpec.from_meta(c) for c in component.get("cards") or ())
        return cls(
            cards=cards,
            offer_expires=offer_expires,
            name=str(obj["name"]),
            language=str(obj["language"]),
            status=str(obj.get("status", "APPROVED")).upper(),
            category=obj.get("category"),
            header=header,
            header_placeholders=header_placeholders if header == "text" else (),
            body_placeholders=placeholders(body),
            buttons=tuple(buttons),
            body=body,
        )

    @classmethod
    def from_gupshup(cls, obj: Mapping[str, Any]) -> TemplateDefinition:
        """Gupshup's shape (``GET /partner/app/{app_id}/templates``): ``elementName``,
        ``languageCode``, ``status``, ``templateType``, and ``containerMeta``, a JSON string
        holding the body (``data``), ``header`` and ``buttons``.
        """
        meta: Any = obj.get("containerMeta") or {}
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = {}
        if not isinstance(meta, Mapping):
            meta = {}
        kind = str(obj.get("templateType", "TEXT")).lower()
        header: str | None = kind if kind in HEADER_KINDS[1:] else None
        header_text = meta.get("header")
        if header is None and isinstance(header_text, str) and header_text:
            header = "text"
        body = str(meta.get("data") if meta.get("data") is not None else obj.get("data", ""))
        cards: tuple[TemplateCardSpec, ...] | None = ()
        if kind == "carousel":
            header = None
            # The cards as Gupshup's template API takes them; a listing without them leaves
            # the carousel unchecked rather than refused.
            listed = meta.get("cards")
            cards = (
                tuple(TemplateCardSpec.from_gupshup(card) for card in listed)
                if isinstance(listed, list) and all(isinstance(c, Mapping) for c in listed)
                else None
            )
        return cls(
            cards=cards,
            name=str(obj["elementName"]),
            language=str(obj.get("languageCode", "en")),
            status=str(obj.get("status", "APPROVED")).upper(),
            category=obj.get("category"),
            header=header,
            header_placeholders=placeholders(header_text) if header == "text" else (),
            body_placeholders=placeholders(body),
            buttons=tuple(button_spec(b) for b in meta.get("buttons") or ()),
            body=body,
        )

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TemplateDefinition:
        """Either shape: Gupshup's has ``elementName``, Meta's ``name``."""
        return cls.from_gupshup(obj) if "elementName" in obj else cls.from_meta(obj)

    def to_meta(self) -> dict[str, Any]:
        """This definition in Meta's shape (what `from_meta` reads)."""
        components: list[dict[str, Any]] = []
        if self.header is not None:
            header: dict[str, Any] = {"type": "HEADER", "format": self.header.upper()}
            if self.header == "text":
                header["text"] = self._header_text()
            components.append(header)
        if self.offer_expires:
            offer = {"has_expiration": True}
            components.append({"type": "LIMITED_TIME_OFFER", "limited_time_offer": offer})
        components.append({"type": "BODY", "text": self._body_text()})
        if self.cards:
            cards = [card.to_meta() for card in self.cards]
            components.append({"type": "CAROUSEL", "cards": cards})
        if self.buttons:
            components.append({"type": "BUTTONS", "buttons": buttons_json(self.buttons)})
        return {
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "components": components,
        }

    def to_gupshup(self) -> dict[str, Any]:
        """This definition as Gupshup lists it (what `from_gupshup` reads)."""
        meta: dict[str, Any] = {"data": self._body_text()}
        if self.header == "text":
            meta["header"] = self._header_text()
        if self.buttons:
            meta["buttons"] = buttons_json(self.buttons)
        kind = self.header if self.header not in (None, "text") else "TEXT"
        if self.cards:
            meta["cards"] = [card.to_gupshup() for card in self.cards]
            kind = "CAROUSEL"
        return {
            "elementName": self.name,
            "languageCode": self.language,
            "status": self.status,
            "category": self.category,
            "templateType": str(kind).upper(),
            "data": self._body_text(),
            "containerMeta": json.dumps(meta),
        }

    def _body_text(self) -> str:
        return text_of(self.body, self.body_placeholders)

    def _header_text(self) -> str:
        return " ".join(f"{{{{{p}}}}}" for p in self.header_placeholders) or self.name

    # The check ------------------------------------------------------------------------------

    def problems(self, message: TemplateMessage) -> list[Problem]:
        """Every way ``message`` does not fit this template, each at its path."""
        out: list[Problem] = []
        if self.status != "APPROVED":
            out.append(
                Problem(
                    "template.name",
                    f"{self.name} ({self.language}) is {self.status}, not APPROVED: "
                    "Meta would refuse it",
                )
            )
        self._fit(message, message.component_paths(), "template.components", out)
        self._fit_cards(message, out)
        self._fit_offer(message, out)
        return out

    def _fit_offer(self, message: TemplateMessage, out: list[Problem]) -> None:
        given = message.offer_path
        if self.offer_expires and given is None:
            out.append(
                Problem(
                    "template.components",
                    "the template's limited-time offer needs its expiry (offer_expires_ms=...)",
                )
            )
        elif given is not None and not self.offer_expires:
            out.append(Problem(given, "the template has no limited-time offer with an expiry"))

    def _fit_cards(self, message: TemplateMessage, out: list[Problem]) -> None:
        if self.cards is None:  # the listing did not say
            return
        carousel = message.carousel_path
        wanted, given = len(self.cards), len(message.cards)
        if carousel is None:
            if wanted:
                out.append(
                    Problem(
                        "template.components",
                        f"the template's carousel needs its {wanted} cards (cards=[...])",
                    )
                )
            return
        if not wanted:
            out.append(Problem(carousel, "the template has no carousel: leave cards out"))
            return
        if given != wanted:
            out.append(
                Problem(f"{carousel}.cards", f"the template has {wanted} cards, got {given}")
            )
            return
        for i, (card, spec) in enumerate(zip(message.cards, self.cards, strict=True)):
            where = f"{carousel}.cards[{i}]"
            spec._fit(card, card.paths(where), f"{where}.components", out)


class TemplateDefinitions:
    """The approved templates of an app, by name and language; `check` a message against them.

    ``TemplateDefinitions.load("templates.json")`` reads a JSON array (or ``{"templates":
    [...]}``, as Gupshup answers) of definitions in Meta's or Gupshup's shape.
    """

    def __init__(
        self, definitions: Iterable[TemplateDefinition] = (), *, unreadable: Iterable[str] = ()
    ) -> None:
        self._by_key: dict[tuple[str, str], TemplateDefinition] = {}
        for definition in definitions:
            self._by_key[(definition.name, definition.language)] = definition
        #: Names of templates listed in a shape this library cannot read: messages naming them
        #: are not checked (Meta judges them), rather than refused for our failing.
        self.unreadable = frozenset(unreadable)

    @classmethod
    def from_json(cls, document: Any, *, strict: bool = True) -> TemplateDefinitions:
        """Definitions from parsed JSON. ``strict`` (a file of your own): raise ``ValueError``
        naming the entry at fault. Not strict (Gupshup's list): an entry that cannot be read is
        left out, its name kept in `unreadable`.
        """
        if isinstance(document, Mapping) and isinstance(document.get("templates"), list):
            document = document["templates"]
        if not isinstance(document, list):
            raise ValueError("template definitions must be a JSON array (or {'templates': [...]})")
        found, unreadable = [], []
        for i, entry in enumerate(document):
            try:
                if not isinstance(entry, Mapping):
                    raise TypeError("not a JSON object")
                found.append(TemplateDefinition.from_json(entry))
            except (KeyError, TypeError, AttributeError, ValueError) as bad:
                if strict:
                    raise ValueError(f"template definition {i} cannot be read: {bad!r}") from None
                name = (
                    entry.get("elementName", entry.get("name"))
                    if isinstance(entry, Mapping)
                    else None
                )
                if isinstance(name, str):
                    unreadable.append(name)
        return cls(found, unreadable=unreadable)

    @classmethod
    def load(cls, path: str | Path) -> TemplateDefinitions:
        """Definitions from a JSON file; raises ``ValueError`` naming the file."""
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except ValueError as bad:
            raise ValueError(f"{path}: {bad}") from None

    def to_json(self) -> list[dict[str, Any]]:
        return [definition.to_meta() for definition in self]

    def __iter__(self) -> Iterator[TemplateDefinition]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __repr__(self) -> str:
        return f"<TemplateDefinitions of {len(self)} templates>"

    def get(self, name: str, language: str) -> TemplateDefinition | None:
        return self._by_key.get((name, language))

    def languages(self, name: str) -> list[str]:
        return sorted(language for (n, language) in self._by_key if n == name)

    def problems(self, message: TemplateMessage) -> list[Problem]:
        """Every way ``message`` does not fit its template, each at its path (empty: it fits)."""
        definition = self.get(message.name, message.language)
        if definition is not None:
            return definition.problems(message)
        if message.name in self.unreadable:
            return []
        languages = self.languages(message.name)
        if languages:
            return [
                Problem(
                    "template.language.code",
                    f"template {message.name} exists in {', '.join(languages)}, "
                    f"not in {message.language}",
                )
            ]
        return [Problem("template.name", f"no template named {message.name} is known")]

    def check(self, message: TemplateMessage) -> None:
        """Raise `ValidationError`, with every fault and its path, unless ``message`` fits."""
        problems = self.problems(message)
        if problems:
            raise ValidationError(problems)
