"""Message templates filled per recipient from CSV or JSON-lines rows, for `send_many`.

A template is an interactive object (or a whole request body holding one) whose strings may
carry placeholders, ``{name}``, filled from the row's column of that name (``{{`` and ``}}``
are literal braces). Each rendered message is validated; a row that cannot make a valid
message becomes a `ValidationError` item, hence a failed outcome, not a crash.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gupshup_async.errors import Problem, ValidationError
from gupshup_async.messages import Message, parse_interactive
from gupshup_async.results import Item, Recipient

__all__ = ["MessageTemplate", "read_rows", "template_items"]

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(\w+)\}")
RECIPIENT_COLUMNS = ("to", "phone", "phone_number", "number")


class MessageTemplate:
    """An interactive template: ``MessageTemplate.load("shipped.json").render(row)``."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        if "interactive" in document and isinstance(document["interactive"], Mapping):
            document = document["interactive"]
        self.document = dict(document)
        self.placeholders = sorted(_names(self.document))
        # A template without placeholders is one message for everybody: check it once.
        self._fixed: Message | ValidationError | None = None
        if not self.placeholders:
            try:
                self._fixed = parse_interactive(self.document)
            except ValidationError as refused:
                self._fixed = refused

    @classmethod
    def load(cls, path: str | Path) -> MessageTemplate:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(document, Mapping):
            raise ValidationError.at("interactive", "a template must be a JSON object")
        return cls(document)

    def render(self, row: Mapping[str, Any]) -> Message | ValidationError:
        """The message for ``row``, or the `ValidationError` saying why there is none."""
        if self._fixed is not None:
            return self._fixed
        problems: list[Problem] = []
        filled = _fill(self.document, row, "interactive", problems)
        if problems:
            return ValidationError(problems)
        try:
            return parse_interactive(filled)
        except ValidationError as refused:
            return refused


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
            return str(row[name])

        return _PLACEHOLDER.sub(value, node)
    if isinstance(node, Mapping):
        return {k: _fill(v, row, f"{path}.{k}", problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, row, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    return node


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """The rows of a ``.csv`` (with a header line) or ``.jsonl`` file, read lazily."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError(f"{path}:{number}: a row must be a JSON object")
                    yield row
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


def template_items(template: MessageTemplate, rows: Iterator[Mapping[str, Any]]) -> Iterator[Item]:
    """`send_many` items: each row's recipient (its ``to`` column, or ``phone``...), its key
    (its ``key`` column; else the item is known by recipient and message, never by position),
    and the template filled from it.
    """
    for row in rows:
        to = next((str(row[c]) for c in RECIPIENT_COLUMNS if row.get(c)), "")
        key = str(row["key"]) if row.get("key") else None
        yield Recipient(to, key=key), template.render(row)
