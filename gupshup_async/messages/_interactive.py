"""What every interactive message shares: the base class that checks a message as a whole when
it is made, writes Meta's ``interactive`` object and reads one back (fields we do not model
survive the trip in ``extra``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._json import JSON, Reader, merge, seal
from gupshup_async.messages._parts import UNREADABLE, Header, check_header, read_header

PATH = "interactive"


def json_object(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A converter for free-form JSON objects: a copy, so the message cannot change later."""
    return dict(value) if isinstance(value, Mapping) else value


def json_array(value: Sequence[Any] | None) -> list[Any] | None:
    return list(value) if isinstance(value, (list, tuple)) else value  # type: ignore[return-value]


@attrs.frozen
class InteractiveBase:
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


def action_parameters(action: Mapping[str, Any], name: str, path: str, reader: Reader) -> Any:
    """The ``parameters`` of a named action (``{"name": ..., "parameters": {...}}``)."""
    reader.constant(action, "name", name, path)
    return reader.optional_object(action, "parameters", path)
