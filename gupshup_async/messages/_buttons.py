"""Reply buttons, lists and a call-to-action URL: the messages a user answers with a tap."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._interactive import InteractiveBase, action_parameters
from gupshup_async.messages._json import JSON, Reader
from gupshup_async.messages._parts import (
    HEADER_TYPES,
    Header,
    ReplyButton,
    Row,
    RowLike,
    Section,
    TextHeader,
    as_tuple,
    check_buttons,
    check_sections,
    copy_extra,
    read_buttons,
    to_buttons,
    to_header,
)


@attrs.frozen
class ButtonMessage(InteractiveBase):
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


def _to_sections(value: Iterable[Section] | Iterable[RowLike]) -> tuple[Section, ...]:
    """A converter: a list of rows (not sections) is one section without a title."""
    items: Any = as_tuple(value, lambda v: v)
    if isinstance(items, tuple) and items and all(isinstance(v, (Row, tuple)) for v in items):
        return (Section(None, items),)
    return items  # type: ignore[no-any-return]


@attrs.frozen
class ListMessage(InteractiveBase):
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
        found = check_sections(
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


@attrs.frozen
class CtaUrlMessage(InteractiveBase):
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
        parameters = action_parameters(action, "cta_url", path, reader)
        return {"display_text": parameters.get("display_text"), "url": parameters.get("url")}
