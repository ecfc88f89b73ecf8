"""The parts messages are made of: headers, reply buttons, list rows and sections, products.

A part does not validate itself: the message it goes into checks the whole tree in one pass,
so that every problem is reported with its full path in the request body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar, cast

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._json import JSON, Reader, leftover, merge

_T = TypeVar("_T")


def copy_extra(value: Mapping[str, Any]) -> dict[str, Any]:
    """A converter for ``extra``, the overlay of fields we do not model (kept on read, written
    back as they were): a copy, so the caller's dict cannot change the message later.
    """
    if type(value) is dict:  # the usual case, without the cost of an ABC check
        return value.copy()
    return dict(value) if isinstance(value, Mapping) else value


def with_leftover(made: _T, document: Mapping[str, Any]) -> _T:
    """``made`` carrying whatever ``document`` has that ``made`` does not write itself."""
    extra = leftover(document, made._fields_json())  # type: ignore[attr-defined]
    return attrs.evolve(made, extra=extra) if extra else made  # type: ignore[misc]


def as_tuple(value: Any, item: Callable[[Any], Any]) -> Any:
    """Any iterable (not a string or a mapping) becomes a tuple of ``item(x)``.

    Anything else is left as it is, for the message's check to report with its path.
    """
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return value
    return tuple(item(v) for v in value)


# Headers ------------------------------------------------------------------------------------


@attrs.frozen
class TextHeader:
    """``{"type": "text", "text": ...}``: at most 60 characters, no markdown."""

    text: str
    kind: ClassVar[str] = "text"

    def _check(self, path: str, out: list[Problem]) -> None:
        rules.text(out, f"{path}.text", self.text, rules.HEADER_TEXT_MAX)

    def _json(self) -> JSON:
        return {"type": "text", "text": self.text}


@attrs.frozen
class _MediaHeader:
    link: str | None = None
    id: str | None = attrs.field(default=None, kw_only=True)
    kind: ClassVar[str]

    def _check(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.{self.kind}"
        if (self.link is None) == (self.id is None):
            out.append(Problem(where, "must have exactly one of 'id' or 'link'"))
        if self.link is not None:
            # Meta's OpenAPI MediaObject: "HTTP/HTTPS only".
            rules.https_url(out, f"{where}.link", self.link, schemes=("https", "http"))
        if self.id is not None:
            rules.identifier(out, f"{where}.id", self.id, rules.MEDIA_ID_MAX)

    def _media_json(self) -> JSON:
        if self.id is not None:
            return {"id": self.id}
        return {"link": self.link}

    def _json(self) -> JSON:
        return {"type": self.kind, self.kind: self._media_json()}


@attrs.frozen
class ImageHeader(_MediaHeader):
    """An image by ``link`` (https URL) or uploaded media ``id``."""

    kind: ClassVar[str] = "image"


@attrs.frozen
class VideoHeader(_MediaHeader):
    """A video by ``link`` (https URL) or uploaded media ``id``."""

    kind: ClassVar[str] = "video"


@attrs.frozen
class DocumentHeader(_MediaHeader):
    """A document by ``link`` (https URL) or uploaded media ``id``, with an optional filename."""

    filename: str | None = attrs.field(default=None, kw_only=True)
    kind: ClassVar[str] = "document"

    def _check(self, path: str, out: list[Problem]) -> None:
        super()._check(path, out)
        rules.text(
            out, f"{path}.document.filename", self.filename, rules.MEDIA_ID_MAX, required=False
        )

    def _media_json(self) -> JSON:
        media = super()._media_json()
        if self.filename is not None:
            media["filename"] = self.filename
        return media


Header = TextHeader | ImageHeader | VideoHeader | DocumentHeader
HEADER_TYPES: tuple[type[Header], ...] = (TextHeader, ImageHeader, VideoHeader, DocumentHeader)
_HEADER_BY_KIND: dict[str, type[Header]] = {h.kind: h for h in HEADER_TYPES}


def to_header(value: Header | str | None) -> Header | None:
    """A converter: a plain string is a text header."""
    return TextHeader(value) if isinstance(value, str) else value


#: Stands for a header that could not be read: its problems are already reported.
UNREADABLE: Any = type("Unreadable", (), {"__slots__": (), "__repr__": lambda _: "UNREADABLE"})()


def check_header(
    out: list[Problem], path: str, header: object, allowed: tuple[type[Header], ...]
) -> None:
    if header is UNREADABLE:  # parse_interactive reports why, at a path beneath this one
        out.append(Problem(path, "could not be read"))
        return
    if not isinstance(header, HEADER_TYPES):
        out.append(Problem(path, f"must be a header object, got {rules.type_name(header)}"))
        return
    if type(header) not in allowed:
        kinds = ", ".join(h.kind for h in allowed)
        out.append(Problem(f"{path}.type", f"must be one of {kinds} here, got {header.kind!r}"))
        return
    header._check(path, out)


def read_header(obj: Mapping[str, Any], path: str, reader: Reader) -> Header:
    kind = obj.get("type")
    cls = _HEADER_BY_KIND.get(kind) if isinstance(kind, str) else None
    if cls is None:
        kinds = ", ".join(_HEADER_BY_KIND)
        reader.problem(f"{path}.type", f"must be one of {kinds}, got {rules.show(kind)}")
        return cast(Header, UNREADABLE)
    if cls is TextHeader:
        if "text" not in obj:
            reader.problem(f"{path}.text", "is required")
        text: Any = obj.get("text")
        return TextHeader(text)
    media = reader.mapping(obj.get(cls.kind), f"{path}.{cls.kind}")
    if media is None:
        return cast(Header, UNREADABLE)
    fields: dict[str, Any] = {"link": media.get("link"), "id": media.get("id")}
    if cls is DocumentHeader:
        fields["filename"] = media.get("filename")
    return cls(**fields)


# Reply buttons ------------------------------------------------------------------------------


@attrs.frozen
class ReplyButton:
    """A quick-reply button: ``id`` comes back in the reply webhook, ``title`` is shown."""

    id: str
    title: str
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check(self, path: str, out: list[Problem], kind: str = "reply") -> None:
        rules.identifier(out, f"{path}.{kind}.id", self.id, rules.BUTTON_ID_MAX)
        rules.text(out, f"{path}.{kind}.title", self.title, rules.BUTTON_TITLE_MAX)

    def _fields_json(self, kind: str = "reply") -> JSON:
        return {"type": kind, kind: {"id": self.id, "title": self.title}}

    def _json(self, kind: str = "reply") -> JSON:
        return merge(self._fields_json(kind), self.extra)

    @classmethod
    def _read(cls, obj: Mapping[str, Any], path: str, reader: Reader, kind: str = "reply") -> Any:
        reader.constant(obj, "type", kind, path)
        inner = reader.mapping(obj.get(kind), f"{path}.{kind}") or {}
        fields: dict[str, Any] = {"id": inner.get("id"), "title": inner.get("title")}
        made = cls(**fields)
        extra = leftover(obj, made._fields_json(kind))
        return attrs.evolve(made, extra=extra) if extra else made


ButtonLike = ReplyButton | tuple[str, str] | str


def _to_button(value: ButtonLike) -> ReplyButton:
    if isinstance(value, str):
        return ReplyButton(value, value)
    if isinstance(value, tuple) and len(value) == 2:
        return ReplyButton(*value)
    return value  # reported by the message's check


def to_buttons(value: Iterable[ButtonLike]) -> tuple[ReplyButton, ...]:
    """A converter: ``("id", "Title")`` or ``"Title"`` (its own id) make a `ReplyButton`."""
    return as_tuple(value, _to_button)  # type: ignore[no-any-return]


def check_buttons(
    out: list[Problem], path: str, buttons: object, low: int, high: int, kind: str = "reply"
) -> None:
    if not isinstance(buttons, tuple):
        out.append(Problem(path, f"must be a list of buttons, got {rules.type_name(buttons)}"))
        return
    rules.count(out, path, len(buttons), low, high, "buttons")
    valid = []
    for i, button in enumerate(buttons):
        where = f"{path}[{i}]"
        if isinstance(button, ReplyButton):
            button._check(where, out, kind)
            valid.append((where, button))
        else:
            out.append(
                Problem(
                    where,
                    "must be a ReplyButton, an (id, title) pair or a title, "
                    f"got {rules.show(button)}",
                )
            )
    rules.unique(out, ((f"{w}.{kind}.id", b.id) for w, b in valid), "button id")
    rules.unique(out, ((f"{w}.{kind}.title", b.title) for w, b in valid), "button title")


def read_buttons(value: object, path: str, reader: Reader, kind: str = "reply") -> Any:
    return reader.each(value, path, lambda o, p, _: ReplyButton._read(o, p, reader, kind))


# List rows and sections ---------------------------------------------------------------------


@attrs.frozen
class Row:
    """A list row: ``id`` comes back in the reply webhook; ``description`` is optional."""

    id: str
    title: str
    description: str | None = None
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check(self, path: str, out: list[Problem]) -> None:
        rules.identifier(out, f"{path}.id", self.id, rules.ROW_ID_MAX)
        rules.text(out, f"{path}.title", self.title, rules.ROW_TITLE_MAX)
        rules.text(
            out, f"{path}.description", self.description, rules.ROW_DESCRIPTION_MAX, required=False
        )

    def _fields_json(self) -> JSON:
        row: JSON = {"id": self.id, "title": self.title}
        if self.description is not None:
            row["description"] = self.description
        return row

    def _json(self) -> JSON:
        return merge(self._fields_json(), self.extra)

    @classmethod
    def _read(cls, obj: Mapping[str, Any], path: str, reader: Reader) -> Row:
        fields: dict[str, Any] = {key: obj.get(key) for key in ("id", "title", "description")}
        return with_leftover(cls(**fields), obj)


RowLike = Row | tuple[str, str] | tuple[str, str, str | None]


def _to_row(value: RowLike) -> Row:
    if isinstance(value, tuple) and len(value) in (2, 3):
        return Row(*value)
    return value  # type: ignore[return-value]  # reported by the message's check


def to_rows(value: Iterable[RowLike]) -> tuple[Row, ...]:
    """A converter: ``("id", "Title")`` or ``("id", "Title", "Description")`` make a `Row`."""
    return as_tuple(value, _to_row)  # type: ignore[no-any-return]


@attrs.frozen
class Section:
    """A titled group of list rows; the title may be None when the list has one section."""

    title: str | None
    rows: tuple[Row, ...] = attrs.field(converter=to_rows)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _fields_json(self) -> JSON:
        section: JSON = {}
        if self.title is not None:
            section["title"] = self.title
        section["rows"] = [row._json() for row in self.rows]
        return section

    def _json(self) -> JSON:
        return merge(self._fields_json(), self.extra)

    @classmethod
    def _read(cls, obj: Mapping[str, Any], path: str, reader: Reader) -> Section:
        rows = reader.each(obj.get("rows"), f"{path}.rows", lambda o, p, _: Row._read(o, p, reader))
        return with_leftover(cls(obj.get("title"), rows), obj)


# Products -----------------------------------------------------------------------------------


@attrs.frozen
class ProductItem:
    """One product of a catalog, by its retailer id (the SKU in the catalog)."""

    product_retailer_id: str
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _fields_json(self) -> JSON:
        return {"product_retailer_id": self.product_retailer_id}

    def _json(self) -> JSON:
        return merge(self._fields_json(), self.extra)

    @classmethod
    def _read(cls, obj: Mapping[str, Any], path: str, reader: Reader) -> ProductItem:
        retailer_id: Any = obj.get("product_retailer_id")
        return with_leftover(cls(retailer_id), obj)


def to_product_items(value: Iterable[ProductItem | str]) -> tuple[ProductItem, ...]:
    """A converter: a plain string is a product retailer id."""
    return as_tuple(value, lambda v: ProductItem(v) if isinstance(v, str) else v)  # type: ignore[no-any-return]


@attrs.frozen
class ProductSection:
    """A titled group of products in a multi-product message."""

    title: str | None
    items: tuple[ProductItem, ...] = attrs.field(converter=to_product_items)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _fields_json(self) -> JSON:
        section: JSON = {}
        if self.title is not None:
            section["title"] = self.title
        section["product_items"] = [item._json() for item in self.items]
        return section

    def _json(self) -> JSON:
        return merge(self._fields_json(), self.extra)

    @classmethod
    def _read(cls, obj: Mapping[str, Any], path: str, reader: Reader) -> ProductSection:
        items = reader.each(
            obj.get("product_items"),
            f"{path}.product_items",
            lambda o, p, _: ProductItem._read(o, p, reader),
        )
        return with_leftover(cls(obj.get("title"), items), obj)


def check_sections(
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
