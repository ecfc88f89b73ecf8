"""A text message: up to 4,096 characters, with a link preview on request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._free_form import FreeFormBase
from gupshup_async.messages._json import JSON, Reader
from gupshup_async.messages._parts import copy_extra

#: Meta, "Text messages": the body is at most 4096 characters.
TEXT_BODY_MAX: Final = 4096


def _boolean(out: list[Problem], path: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        out.append(Problem(path, f"must be true or false, got {rules.show(value)}"))


@attrs.frozen
class TextMessage(FreeFormBase):
    """``TextMessage("Your order shipped: https://example.com/t/42", preview_url=True)``.

    ``body``: at most 4,096 characters, WhatsApp's formatting (``*bold*``, ``_italic_``) and
    links allowed. ``preview_url``: show a preview of the first link (it must start with
    ``http://`` or ``https://``).
    """

    body: str
    preview_url: bool | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    PAYLOAD: ClassVar[str] = "text"

    def _check(self, out: list[Problem], path: str) -> None:
        rules.text(out, f"{path}.body", self.body, TEXT_BODY_MAX)
        _boolean(out, f"{path}.preview_url", self.preview_url)

    def _fields_json(self) -> JSON:
        out: JSON = {"body": self.body}
        if self.preview_url is not None:
            out["preview_url"] = self.preview_url
        return out

    @classmethod
    def _read(cls, document: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
        if "body" not in document:
            reader.problem("text.body", "is required")
        return {"body": document.get("body"), "preview_url": document.get("preview_url")}
