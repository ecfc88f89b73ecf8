"""What every message that is neither interactive nor a template shares: its object sits under
the request's ``type`` key (``"text": {...}``, ``"image": {...}``), checked when made, written
once, read back with the fields we do not model kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages._json import JSON, Reader, merge, seal


@attrs.frozen
class FreeFormBase:
    """A text, media, location, contacts or reaction message (free-form: the 24-hour window
    applies, as to interactive messages).
    """

    # The request's object for this type, made when the message is.
    _encoded: bytes = attrs.field(init=False, default=b"", eq=False, hash=False, repr=False)

    #: The request's ``type``, and the key its object sits under.
    PAYLOAD: ClassVar[str]

    extra: dict[str, Any]

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        self._check(problems, self.PAYLOAD)
        seal(self, problems, self.PAYLOAD, self.to_json)

    def to_json(self) -> JSON:
        """The request's object for this type (``{"body": ...}`` under ``"text"``)."""
        return merge(self._fields_json(), self.extra)

    def encoded(self) -> bytes:
        """`to_json` as compact UTF-8 JSON, made with the message and kept."""
        return self._encoded

    def _check(self, out: list[Problem], path: str) -> None:
        raise NotImplementedError

    def _fields_json(self) -> JSON:
        raise NotImplementedError

    @classmethod
    def _read(cls, document: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
        """The constructor's arguments from the type's object (problems go to ``reader``)."""
        raise NotImplementedError


def covered(path: str, seen: list[str]) -> bool:
    return any(s == path or s.startswith((f"{path}.", f"{path}[")) for s in seen)
