"""Every interactive message type, and reading any of them from Meta's ``interactive`` object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gupshup_async.errors import ValidationError
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._buttons import ButtonMessage, CtaUrlMessage, ListMessage
from gupshup_async.messages._carousel import CarouselMessage
from gupshup_async.messages._commerce import (
    CatalogMessage,
    OrderDetailsMessage,
    OrderStatusMessage,
    ProductListMessage,
    ProductMessage,
)
from gupshup_async.messages._flows import FlowMessage
from gupshup_async.messages._interactive import PATH
from gupshup_async.messages._json import Reader
from gupshup_async.messages._parts import with_leftover
from gupshup_async.messages._requests import (
    AddressMessage,
    CallPermissionRequestMessage,
    LocationRequestMessage,
    RequestContactInfoMessage,
    VoiceCallMessage,
)

InteractiveMessage = (
    ButtonMessage
    | ListMessage
    | CtaUrlMessage
    | FlowMessage
    | ProductMessage
    | ProductListMessage
    | CatalogMessage
    | LocationRequestMessage
    | AddressMessage
    | VoiceCallMessage
    | CarouselMessage
    | CallPermissionRequestMessage
    | RequestContactInfoMessage
    | OrderDetailsMessage
    | OrderStatusMessage
)

MESSAGE_TYPES: tuple[type[InteractiveMessage], ...] = (
    ButtonMessage,
    ListMessage,
    CtaUrlMessage,
    FlowMessage,
    ProductMessage,
    ProductListMessage,
    CatalogMessage,
    LocationRequestMessage,
    AddressMessage,
    VoiceCallMessage,
    CarouselMessage,
    CallPermissionRequestMessage,
    RequestContactInfoMessage,
    OrderDetailsMessage,
    OrderStatusMessage,
)
_BY_TYPE: dict[str, type[InteractiveMessage]] = {cls.TYPE: cls for cls in MESSAGE_TYPES}


def _covered(path: str, seen: list[str]) -> bool:
    return any(s == path or s.startswith((f"{path}.", f"{path}[")) for s in seen)


def parse_interactive(document: Mapping[str, Any]) -> InteractiveMessage:
    """Read Meta's ``interactive`` object into a message, checking every rule.

    Raises `ValidationError` listing every problem found. Fields we do not model are kept, so
    ``parse_interactive(d).to_interactive() == d`` for every valid ``d``.
    """
    reader = Reader()
    doc = reader.mapping(document, PATH)
    reader.raise_if_any()
    assert doc is not None
    kind = doc.get("type")
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(_BY_TYPE)
        raise ValidationError.at(f"{PATH}.type", f"must be one of {known}, got {rules.show(kind)}")
    fields = cls._read(doc, reader)
    try:
        message = cls(**fields)
    except ValidationError as refused:
        # Where the reader found a wrong shape, the checks see only its consequence: drop
        # what they say at the reader's paths and above them.
        seen = [problem.path for problem in reader.problems]
        reader.raise_if_any([p for p in refused.errors if not _covered(p.path, seen)])
    reader.raise_if_any()
    return with_leftover(message, doc)
