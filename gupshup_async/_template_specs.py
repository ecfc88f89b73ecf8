"""What a template definition is made of (button and card specs) and the check of a message's
header, body and buttons against them. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import (
    DocumentHeader,
    ImageHeader,
    TemplateCard,
    TemplateCatalogButton,
    TemplateCopyCode,
    TemplateFlowButton,
    TemplateLocation,
    TemplateMessage,
    TemplateMultiProductButton,
    TemplateOrderDetailsButton,
    TemplateProduct,
    TemplateQuickReply,
    TemplateText,
    TemplateUrlButton,
    VideoHeader,
)

#: What a message's parts are read from: a template message, or one card of its carousel.
Given = TemplateMessage | TemplateCard


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
HEADER_KINDS = ("text", "image", "video", "document", "location", "product")
# What each button kind is called in a definition, and the parameter class that fills it.
BUTTON_KINDS = {
    "QUICK_REPLY": "quick_reply",
    "URL": "url",
    "COPY_CODE": "copy_code",
    "FLOW": "flow",
    "PHONE_NUMBER": "phone_number",
    "OTP": "otp",
    "CATALOG": "catalog",
    "MPM": "mpm",
    "ORDER_DETAILS": "order_details",
    "VOICE_CALL": "voice_call",
}
_KIND_NAMES = {kind: name for name, kind in BUTTON_KINDS.items()}
_PARAMETER_OF = {
    TemplateQuickReply: "quick_reply",
    TemplateUrlButton: "url",
    TemplateCopyCode: "copy_code",
    TemplateFlowButton: "flow",
    TemplateCatalogButton: "catalog",
    TemplateMultiProductButton: "mpm",
    TemplateOrderDetailsButton: "order_details",
}
# What a button that needs a parameter needs, to say so.
_NEEDED = {"url": "its URL's suffix", "mpm": "its products", "order_details": "its order"}
# An authentication template's one-time-password button takes its code as a URL button's text
# parameter (Meta, "Authentication templates": copy code, one tap and zero tap alike).
_SENT_AS = {"otp": "url"}
_MEDIA_OF = {
    TemplateText: "text",
    ImageHeader: "image",
    VideoHeader: "video",
    DocumentHeader: "document",
    TemplateLocation: "location",
    TemplateProduct: "product",
}


def placeholders(text: object) -> tuple[str, ...]:
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
        if self.kind in ("copy_code", "otp", "mpm", "order_details"):
            return True
        return self.kind == "url" and bool(placeholders(self.url))

    def describe(self) -> str:
        label = {
            "url": "a URL button",
            "quick_reply": "a quick-reply button",
            "otp": "a one-time password button",
        }.get(self.kind, f"a {self.kind.replace('_', '-')} button")
        return f"{label} ({self.text})" if self.text else label


class PartsSpec:
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
                what = _NEEDED.get(spec.kind, "its code")
                out.append(
                    Problem(
                        container,
                        f"button {index}, {spec.describe()}, needs {what} (buttons=[...])",
                    )
                )


@attrs.frozen
class TemplateCardSpec(PartsSpec):
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
                buttons.extend(button_spec(b) for b in component.get("buttons") or ())
        return cls(header, placeholders(body), tuple(buttons), body)

    @classmethod
    def from_gupshup(cls, obj: Mapping[str, Any]) -> TemplateCardSpec:
        body = str(obj.get("body") or "")
        buttons = tuple(button_spec(b) for b in obj.get("buttons") or ())
        return cls(str(obj.get("headerType", "IMAGE")).lower(), placeholders(body), buttons, body)

    def to_meta(self) -> dict[str, Any]:
        components: list[dict[str, Any]] = [{"type": "HEADER", "format": self.header.upper()}]
        components.append({"type": "BODY", "text": text_of(self.body, self.body_placeholders)})
        if self.buttons:
            components.append({"type": "BUTTONS", "buttons": buttons_json(self.buttons)})
        return {"components": components}

    def to_gupshup(self) -> dict[str, Any]:
        return {
            "headerType": self.header.upper(),
            "body": text_of(self.body, self.body_placeholders),
            "buttons": buttons_json(self.buttons),
        }


def text_of(text: str, placeholders: tuple[str, ...]) -> str:
    return text or " ".join(f"{{{{{p}}}}}" for p in placeholders)


def buttons_json(buttons: tuple[TemplateButtonSpec, ...]) -> list[dict[str, Any]]:
    specs = []
    for b in buttons:
        spec: dict[str, Any] = {"type": _KIND_NAMES.get(b.kind, b.kind.upper()), "text": b.text}
        if b.url is not None:
            spec["url"] = b.url
        specs.append(spec)
    return specs


def button_spec(obj: Mapping[str, Any]) -> TemplateButtonSpec:
    kind = str(obj.get("type", "")).upper()
    url = obj.get("url")
    return TemplateButtonSpec(
        BUTTON_KINDS.get(kind, kind.lower()),
        str(obj.get("text", "")),
        url if isinstance(url, str) else None,
    )
