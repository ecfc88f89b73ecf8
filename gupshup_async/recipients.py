"""Messages filled per recipient from CSV or JSON-lines rows, for `send_many`.

A `RowMessage` is a message's JSON (an interactive object, a WhatsApp template object, or a
whole request body holding either) whose strings may carry placeholders, ``{name}``, filled
from the row's column of that name (``{{`` and ``}}`` are literal braces). Each filled message
is validated; a row that cannot make a valid message becomes a `ValidationError` item, hence a
failed outcome, not a crash.

(Until 0.1 this was ``gupshup_async.template_definitions.MessageTemplate``: the name now belongs to
WhatsApp's own template messages.)
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from gupshup_async.errors import Problem, RowsError, ValidationError
from gupshup_async.items import Item, Recipient, fingerprint
from gupshup_async.messages import FREE_FORM_TYPES, Message, normalize_recipient, parse_message

__all__ = [
    "READABLE",
    "RowMessage",
    "RowsError",
    "RowsScan",
    "located_rows",
    "read_rows",
    "recipient_of",
    "row_items",
    "scan_rows",
]

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(\w+)\}")
RECIPIENT_COLUMNS = ("to", "phone", "phone_number", "number")

#: The recipients files read, by extension.
READABLE = {
    ".csv": "CSV with a header line",
    ".jsonl": "JSON lines, an object per line",
    ".ndjson": "JSON lines, an object per line",
    ".json": "a JSON array of objects",
}


class RowMessage:
    """A message with ``{column}`` placeholders: ``RowMessage.load("shipped.json").render(row)``."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.root = "interactive"
        found: Any = document
        for kind in ("template", "interactive", *FREE_FORM_TYPES):
            inner = document.get(kind)
            if document.get("type", kind) != kind:
                continue  # a request body says its type; a bare interactive object has its own
            if isinstance(inner, Mapping) or (kind == "contacts" and isinstance(inner, list)):
                self.root, found = kind, inner
                break
        else:
            if "name" in document and "language" in document and "type" not in document:
                self.root = "template"
        self.document: Any = list(found) if isinstance(found, list) else dict(found)
        self.placeholders = sorted(_names(self.document))
        # A message without placeholders is one message for everybody: check it once.
        self._fixed: Message | ValidationError | None = None
        if not self.placeholders:
            self._fixed = self._parse(self.document)

    def fixed_problem(self) -> ValidationError | None:
        """For a message without placeholders (one message for everybody), why it cannot be
        sent, if it cannot: then no row can be.
        """
        return self._fixed if isinstance(self._fixed, ValidationError) else None

    @classmethod
    def load(cls, path: str | Path) -> RowMessage:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(document, Mapping):
            raise ValidationError.at("interactive", "a message must be a JSON object")
        return cls(document)

    def _parse(self, document: Any) -> Message | ValidationError:
        try:
            return parse_message({"type": self.root, self.root: document})
        except ValidationError as refused:
            return refused

    def render(self, row: Mapping[str, Any]) -> Message | ValidationError:
        """The message for ``row``, or the `ValidationError` saying why there is none."""
        if self._fixed is not None:
            return self._fixed
        problems: list[Problem] = []
        filled = _fill(self.document, row, self.root, problems)
        if problems:
            return ValidationError(problems)
        return self._parse(filled)


def _names(node: Any) -> set[str]:
    if isinstance(node, str):
        return {m.group(1) for m in _PLACEHOLDER.finditer(node) if m.group(1)}
    if isinstance(node, Mapping):
        return set().union(*(_names(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_names(v) for v in node)) if node else set()
    return set()


def _fill(node: Any, row: Mapping[str, Any], path: str, problems: list[Problem]) -> Any:
    if isinstance(node, str):

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return match.group(0)[0]
            if name not in row or row[name] is None:
                problems.append(Problem(path, f"placeholder {{{name}}} has no value in the row"))
                return ""
            given = row[name]
            if isinstance(given, (Mapping, list)):
                kind = "an object" if isinstance(given, Mapping) else "a list"
                problems.append(Problem(path, f"placeholder {{{name}}} is {kind}, not text"))
                return ""
            text = str(given).lower() if isinstance(given, bool) else str(given)
            if not text.strip():
                problems.append(Problem(path, f"placeholder {{{name}}} is empty in the row"))
            return text

        return _PLACEHOLDER.sub(value, node)
    if isinstance(node, Mapping):
        return {k: _fill(v, row, f"{path}.{k}", problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, row, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    return node


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """The rows of a recipients file, read lazily: ``.csv`` (with a header line), ``.jsonl``
    or ``.ndjson`` (an object per line), ``.json`` (an array of objects). Raises `RowsError`,
    naming the file and line, for a row that is not well-formed, a CSV header that names a
    column twice, and any other extension.
    """
    for _, row in located_rows(path):
        yield row


def located_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """`read_rows`, each row with where it is: its line (CSV, JSON lines; a CSV row's last
    line when quoted fields span lines), or its place in a JSON array.
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in READABLE:
        known = ", ".join(f"{ext} ({what})" for ext, what in READABLE.items())
        raise RowsError(
            f"{path}: cannot read {kind or 'a file without an extension'}; read: {known}"
        )
    try:
        if kind == ".csv":
            yield from _csv_rows(path)
        elif kind == ".json":
            yield from _array_rows(path)
        else:
            yield from _line_rows(path)
    except UnicodeDecodeError as bad:
        raise RowsError(f"{path}: not UTF-8 text ({bad.reason} at byte {bad.start})") from None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if not header:
                raise RowsError(f"{path}: empty; the first line must name the columns")
            twice = sorted({name for name in header if header.count(name) > 1})
            if twice:
                raise RowsError(f"{path}:1: columns named twice: {', '.join(twice)}")
            for row in reader:
                if not any(field.strip() for field in row):
                    continue
                if len(row) != len(header):
                    raise RowsError(
                        f"{path}:{reader.line_num}: {len(row)} fields where the header has "
                        f"{len(header)} (an unbalanced quote or a stray comma?)"
                    )
                yield reader.line_num, dict(zip(header, row, strict=True))
        except csv.Error as bad:
            raise RowsError(f"{path}:{reader.line_num}: not CSV ({bad})") from None


def _line_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as bad:
                raise RowsError(f"{path}:{number}: not JSON ({_reason(bad)})") from None
            if not isinstance(row, dict):
                raise RowsError(f"{path}:{number}: a row must be a JSON object")
            yield number, row


def _array_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as bad:
        raise RowsError(f"{path}:{bad.lineno}: not JSON ({bad.msg})") from None
    except RecursionError:
        raise RowsError(f"{path}: nested too deeply to be a list of recipients") from None
    if not isinstance(data, list):
        raise RowsError(f"{path}: must hold a JSON array of objects, not a {type(data).__name__}")
    for number, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise RowsError(f"{path}: item {number} of the array is not an object")
        yield number, row


def _reason(error: BaseException) -> str:
    return error.msg if isinstance(error, json.JSONDecodeError) else type(error).__name__


def _why(error: ValidationError | None) -> str:
    return ", ".join(str(problem) for problem in error.errors) if error is not None else "?"


@attrs.frozen
class RowsScan:
    """What `scan_rows` found: ``rows``; ``refused``, each row that cannot be sent as
    ``file:line: why`` (a number that is not valid, a placeholder empty or missing, a message
    WhatsApp would refuse); ``repeats``, rows asking for a message a row before them already
    asked for, to the same person (however the number was written); ``edited``, rows whose
    person an earlier run (``sent_before``) sent another message, as ``file:line: recipient``.
    ``refused_rows`` and ``repeat_rows``: where those rows are, counted from 0 in the order
    `read_rows` gives them (to leave them out of the items without checking them again).
    """

    rows: int
    refused: list[str]
    refused_rows: list[int]
    repeat_rows: list[int]
    edited: list[str] = attrs.Factory(list)

    @property
    def repeats(self) -> int:
        return len(self.repeat_rows)


def scan_rows(
    path: str | Path,
    message: RowMessage,
    *more: RowMessage,
    region: str | None = None,
    allow_refused: bool = False,
    sent_before: Mapping[str, set[str]] | None = None,
) -> RowsScan:
    """Read and check the whole file before anything is sent. Raises `RowsError` for a
    malformed row, a file without a recipient column, a message (of ``message`` and ``more``)
    whose placeholders no column fills or that is invalid for every row, and, unless
    ``allow_refused``, for any row that cannot be sent (each named with its file and line).
    ``region``: the country of numbers written without their country code;
    ``sent_before``: recipient -> fingerprints an earlier run sent (`Journal.sent_before`).
    """
    count = 0
    columns: set[str] = set()
    refused: list[str] = []
    asked: set[int] = set()
    refused_rows: list[int] = []
    repeat_rows: list[int] = []
    edited: list[str] = []
    messages = (message, *more)
    for problem in (m.fixed_problem() for m in messages):
        if problem is not None:  # the same for every row: refused once, before the rows
            raise RowsError(f"the message cannot be sent to anybody: {problem}")
    for count, (where, row) in enumerate(located_rows(path), 1):
        columns.update(row)
        try:
            to = normalize_recipient(recipient_of(row), region)
        except ValidationError as bad:
            refused.append(f"{path}:{where}: {_why(bad)}")
            refused_rows.append(count - 1)
            continue
        made = message.render(row)
        others = [other.render(row) for other in more]
        failed = next((m for m in (made, *others) if isinstance(m, ValidationError)), None)
        if failed is not None or isinstance(made, ValidationError):
            refused.append(f"{path}:{where}: {_why(failed)}")
            refused_rows.append(count - 1)
            continue
        printed = fingerprint(made)
        mark = hash((to, printed))
        if mark in asked:
            repeat_rows.append(count - 1)
        asked.add(mark)
        if sent_before is not None and to in sent_before and printed not in sent_before[to]:
            edited.append(f"{path}:{where}: {to}")
    if count == 0:
        raise RowsError(f"{path}: no rows")
    if not columns.intersection(RECIPIENT_COLUMNS):
        raise RowsError(f"{path}: no recipient column: name one {', '.join(RECIPIENT_COLUMNS)}")
    wanted = set(message.placeholders).union(*(other.placeholders for other in more))
    missing = sorted(wanted - columns)
    if missing:
        raise RowsError(f"{path}: no column for the message's placeholders {', '.join(missing)}")
    if refused and not allow_refused:
        shown = "; ".join(refused[:5])
        rest = f"; and {len(refused) - 5} more" if len(refused) > 5 else ""
        raise RowsError(
            f"{len(refused)} of {count} rows cannot be sent, nothing was: {shown}{rest} "
            "(fix them, or skip them on purpose: --skip-invalid)"
        )
    return RowsScan(count, refused, refused_rows, repeat_rows, edited)


def recipient_of(row: Mapping[str, Any]) -> str:
    """A row's recipient: its ``to`` column, or ``phone``, ``phone_number``, ``number``."""
    return next((str(row[c]) for c in RECIPIENT_COLUMNS if row.get(c)), "")


def row_items(message: RowMessage, rows: Iterator[Mapping[str, Any]]) -> Iterator[Item]:
    """`send_many` items: each row's recipient (its ``to`` column, or ``phone``...), its key
    (its ``key`` column; else the item is known by recipient and message, never by position),
    and the message filled from it.
    """
    for row in rows:
        to = recipient_of(row)
        key = str(row["key"]) if row.get("key") else None
        yield Recipient(to, key=key), message.render(row)
