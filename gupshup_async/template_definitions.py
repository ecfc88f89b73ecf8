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
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from gupshup_async.errors import Problem, ValidationError
from gupshup_async.messages import (
    DocumentHeader,
    ImageHeader,
    TemplateCard,
    TemplateCopyCode,
    TemplateFlowButton,
    TemplateLocation,
    TemplateMessage,
    TemplateQuickReply,
    TemplateText,
    TemplateUrlButton,
    VideoHeader,
)

__all__ = ["TemplateButtonSpec", "TemplateCardSpec", "TemplateDefinition", "TemplateDefinitions"]

#: What a template's parts are checked on: the message, or one of its carousel cards.
Given = TemplateMessage | TemplateCard

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_HEADER_KINDS = ("text", "image", "video", "document", "location")
# What each button kind is called in a definition, and the parameter class that fills it.
_BUTTON_KINDS = {
    "QUICK_REPLY": "quick_reply",
    "URL": "url",
    "COPY_CODE": "copy_code",
    "FLOW": "flow",
    "PHONE_NUMBER": "phone_number",
    "OTP": "otp",
    "CATALOG": "catalog",
    "MPM": "mpm",
    "VOICE_CALL": "voice_call",
}
_KIND_NAMES = {kind: name for name, kind in _BUTTON_KINDS.items()}
_PARAMETER_OF = {
    TemplateQuickReply: "quick_reply",
    TemplateUrlButton: "url",
    TemplateCopyCode: "copy_code",
    TemplateFlowButton: "flow",
}
# An authentication template's one-time-password button takes its code as a URL button's text
# parameter (Meta, "Authentication templates": copy code, one tap and zero tap alike).
_SENT_AS = {"otp": "url"}
_MEDIA_OF = {
    TemplateText: "text",
    ImageHeader: "image",
    VideoHeader: "video",
    DocumentHeader: "document",
    TemplateLocation: "location",
}


def _placeholders(text: object) -> tuple[str, ...]:
    """The distinct placeholders of ``text`` in order of first use: ``("1", "2")`` or names."""
    if not isinstance(text, str):
        return ()
    found = list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(text)))
    if found and all(name.isdigit() for name in found):
        found.sort(key=int)
    return tuple(found)


@attrs.frozen
class TemplateButtonSpec:
    """One button of a template as approved: its kind (``quick_reply``, ``url``,
    ``copy_code``, ``flow``, ``phone_number``...), its label, and whether the message must give
    it a parameter (a URL with a ``{{1}}`` suffix, a copy-code button).
    """

    kind: str
    text: str = ""
    url: str | None = None

    @property
    def needs_parameter(self) -> bool:
        if self.kind in ("copy_code", "otp"):
            return True
        return self.kind == "url" and bool(_placeholders(self.url))

    def describe(self) -> str:
        label = {
            "url": "a URL button",
            "quick_reply": "a quick-reply button",
            "otp": "a one-time password button",
        }.get(self.kind, f"a {self.kind.replace('_', '-')} button")
        return f"{label} ({self.text})" if self.text else label


class _Fits:
    """The check of a header, a body and buttons against what a template (or one of its
    carousel cards) takes: shared by `TemplateDefinition` and `TemplateCardSpec`.
    """

    __slots__ = ()
    header: str | None
    header_placeholders: tuple[str, ...]
    body_placeholders: tuple[str, ...]
    buttons: tuple[TemplateButtonSpec, ...]

    @property
    def named(self) -> bool:
        return any(not name.isdigit() for name in self.body_placeholders)

    def _fit(
        self,
        given: Given,
        paths: tuple[str | None, str | None, list[str]],
        container: str,
        out: list[Problem],
    ) -> None:
        header_path, body_path, button_paths = paths
        self._check_header(given, header_path, container, out)
        self._check_body(given, body_path, container, out)
        self._check_buttons(given, button_paths, container, out)

    def _check_header(
        self, message: Given, path: str | None, container: str, out: list[Problem]
    ) -> None:
        given = message.header
        wants_parameter = self.header is not None and (
            self.header != "text" or bool(self.header_placeholders)
        )
        if given is None:
            if wants_parameter:
                what = "a text" if self.header == "text" else f"a {self.header}"
                out.append(
                    Problem(container, f"the template's header needs {what} parameter (header=...)")
                )
            return
        assert path is not None
        where = f"{path}.parameters[0]"
        if not wants_parameter:
            has = "no header" if self.header is None else "a header without parameters"
            out.append(Problem(path, f"the template has {has}: leave header out"))
            return
        kind = _MEDIA_OF.get(type(given))
        if kind != self.header:
            out.append(
                Problem(f"{where}.type", f"must be {self.header}, as the template's header is")
            )
            return
        named = [p for p in self.header_placeholders if not p.isdigit()]
        name = getattr(given, "name", None)
        if named and name not in named:
            out.append(
                Problem(
                    f"{where}.parameter_name",
                    f"must be {named[0]}, the header's placeholder, got {name!r}",
                )
            )

    def _check_body(
        self, message: Given, path: str | None, container: str, out: list[Problem]
    ) -> None:
        wanted = self.body_placeholders
        where = f"{path}.parameters" if path is not None else container
        if self.named:
            given = [getattr(p, "name", None) for p in message.body]
            missing = [name for name in wanted if name not in given]
            unknown = [
                (i, name) for i, name in enumerate(given) if name is not None and name not in wanted
            ]
            for i, name in unknown:
                out.append(
                    Problem(
                        f"{where}[{i}].parameter_name",
                        f"the template has no parameter {{{{{name}}}}}; it has "
                        + ", ".join(f"{{{{{n}}}}}" for n in wanted),
                    )
                )
            if missing:
                shown = ", ".join(f"{{{{{n}}}}}" for n in missing)
                out.append(Problem(where, f"the template's body needs {shown}"))
            if message.body and not message.named:
                out.append(Problem(where, "the template's parameters are named: pass a mapping"))
            return
        if message.named:
            out.append(Problem(where, "the template's parameters are numbered, not named"))
            return
        if len(message.body) != len(wanted):
            shown = ", ".join(f"{{{{{n}}}}}" for n in wanted) or "none"
            out.append(
                Problem(
                    where,
                    f"the template's body takes {len(wanted)} "
                    f"parameter{'' if len(wanted) == 1 else 's'} ({shown}), "
                    f"got {len(message.body)}",
                )
            )

    def _check_buttons(
        self, message: Given, paths: list[str], container: str, out: list[Problem]
    ) -> None:
        given: set[int] = set()
        for path, button in zip(paths, message.buttons, strict=True):
            index = button.index
            given.add(index)
            if not 0 <= index < len(self.buttons):
                count = len(self.buttons)
                out.append(
                    Problem(
                        f"{path}.index",
                        f"the template has no button {index} (it has {count}"
                        f"{', numbered from 0' if count else ''})",
                    )
                )
                continue
            spec = self.buttons[index]
            kind = _PARAMETER_OF[type(button)]
            if kind != _SENT_AS.get(spec.kind, spec.kind):
                out.append(
                    Problem(f"{path}.sub_type", f"button {index} is {spec.describe()}, not {kind}")
                )
            elif spec.kind == "url" and not spec.needs_parameter:
                out.append(Problem(path, f"button {index}'s URL {spec.url} has no variable part"))
        for index, spec in enumerate(self.buttons):
            if spec.needs_parameter and index not in given:
                what = "its URL's suffix" if spec.kind == "url" else "its code"
                out.append(
                    Problem(
                        container,
                        f"button {index}, {spec.describe()}, needs {what} (buttons=[...])",
                    )
                )


@attrs.frozen
class TemplateCardSpec(_Fits):
    """One card of a carousel template as approved: its header (``"image"`` or ``"video"``),
    its body's placeholders and its buttons.
    """

    header: str
    body_placeholders: tuple[str, ...] = ()
    buttons: tuple[TemplateButtonSpec, ...] = ()
    body: str = ""
    header_placeholders: tuple[str, ...] = ()

    @classmethod
    def from_meta(cls, obj: Mapping[str, Any]) -> TemplateCardSpec:
        header, body = "image", ""
        buttons: list[TemplateButtonSpec] = []
        for component in obj.get("components") or ():
            kind = str(component.get("type", "")).upper()
            if kind == "HEADER":
                header = str(component.get("format", "IMAGE")).lower()
            elif kind == "BODY":
                body = str(component.get("text", ""))
            elif kind == "BUTTONS":
                buttons.extend(_button_spec(b) for b in component.get("buttons") or ())
        return cls(header, _placeholders(body), tuple(buttons), body)

    @classmethod
    def from_gupshup(cls, obj: Mapping[str, Any]) -> TemplateCardSpec:
        body = str(obj.get("body") or "")
        buttons = tuple(_button_spec(b) for b in obj.get("buttons") or ())
        return cls(str(obj.get("headerType", "IMAGE")).lower(), _placeholders(body), buttons, body)

    def to_meta(self) -> dict[str, Any]:
        components: list[dict[str, Any]] = [{"type": "HEADER", "format": self.header.upper()}]
        components.append({"type": "BODY", "text": _text_of(self.body, self.body_placeholders)})
        if self.buttons:
            components.append({"type": "BUTTONS", "buttons": _buttons_json(self.buttons)})
        return {"components": components}

    def to_gupshup(self) -> dict[str, Any]:
        return {
            "headerType": self.header.upper(),
            "body": _text_of(self.body, self.body_placeholders),
            "buttons": _buttons_json(self.buttons),
        }


def _text_of(text: str, placeholders: tuple[str, ...]) -> str:
    return text or " ".join(f"{{{{{p}}}}}" for p in placeholders)


def _buttons_json(buttons: tuple[TemplateButtonSpec, ...]) -> list[dict[str, Any]]:
    specs = []
    for b in buttons:
        spec: dict[str, Any] = {"type": _KIND_NAMES.get(b.kind, b.kind.upper()), "text": b.text}
        if b.url is not None:
            spec["url"] = b.url
        specs.append(spec)
    return specs


@attrs.frozen
class TemplateDefinition(_Fits):
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
        for component in obj.get("components") or ():
            kind = str(component.get("type", "")).upper()
            if kind == "HEADER":
                header = str(component.get("format", "TEXT")).lower()
                header_placeholders = _placeholders(component.get("text"))
            elif kind == "BODY":
                body = str(component.get("text", ""))
            elif kind == "BUTTONS":
                buttons.extend(_button_spec(b) for b in component.get("buttons") or ())
            elif kind == "CAROUSEL":
                cards = tuple(TemplateCardSpec.from_meta(c) for c in component.get("cards") or ())
        return cls(
            cards=cards,
            name=str(obj["name"]),
            language=str(obj["language"]),
            status=str(obj.get("status", "APPROVED")).upper(),
            category=obj.get("category"),
            header=header,
            header_placeholders=header_placeholders if header == "text" else (),
            body_placeholders=_placeholders(body),
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
        header: str | None = kind if kind in _HEADER_KINDS[1:] else None
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
            header_placeholders=_placeholders(header_text) if header == "text" else (),
            body_placeholders=_placeholders(body),
            buttons=tuple(_button_spec(b) for b in meta.get("buttons") or ()),
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
        components.append({"type": "BODY", "text": self._body_text()})
        if self.cards:
            cards = [card.to_meta() for card in self.cards]
            components.append({"type": "CAROUSEL", "cards": cards})
        if self.buttons:
            components.append({"type": "BUTTONS", "buttons": _buttons_json(self.buttons)})
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
            meta["buttons"] = _buttons_json(self.buttons)
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
        return _text_of(self.body, self.body_placeholders)

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
        return out

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


def _button_spec(obj: Mapping[str, Any]) -> TemplateButtonSpec:
    kind = str(obj.get("type", "")).upper()
    url = obj.get("url")
    return TemplateButtonSpec(
        _BUTTON_KINDS.get(kind, kind.lower()),
        str(obj.get("text", "")),
        url if isinstance(url, str) else None,
    )


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
