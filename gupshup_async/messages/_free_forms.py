"""Every free-form message type (text, media, location, contacts, reaction), and reading any of
them from the object a request carries under its ``type``.
"""

from __future__ import annotations

from typing import Any

from gupshup_async.errors import ValidationError
from gupshup_async.messages._contacts import ContactsMessage
from gupshup_async.messages._free_form import covered
from gupshup_async.messages._json import Reader
from gupshup_async.messages._location import LocationMessage
from gupshup_async.messages._media import (
    AudioMessage,
    DocumentMessage,
    ImageMessage,
    StickerMessage,
    VideoMessage,
)
from gupshup_async.messages._parts import with_leftover
from gupshup_async.messages._reaction import ReactionMessage
from gupshup_async.messages._text import TextMessage

FreeFormMessage = (
    TextMessage
    | ImageMessage
    | VideoMessage
    | AudioMessage
    | DocumentMessage
    | StickerMessage
    | ReactionMessage
    | LocationMessage
    | ContactsMessage
)

FREE_FORM_TYPES: dict[str, type[FreeFormMessage]] = {
    cls.PAYLOAD: cls
    for cls in (
        TextMessage,
        ImageMessage,
        VideoMessage,
        AudioMessage,
        DocumentMessage,
        StickerMessage,
        ReactionMessage,
        LocationMessage,
        ContactsMessage,
    )
}


def parse_free_form(kind: str, document: Any) -> FreeFormMessage:
    """Read the object a request carries under ``kind`` (``"text"``, ``"image"``...), checking
    every rule; fields we do not model are kept, so it is written back unchanged.
    """
    cls = FREE_FORM_TYPES[kind]
    reader = Reader()
    if cls is ContactsMessage:
        cards = reader.array(document, kind)
        reader.raise_if_any()
        return ContactsMessage(cards)
    obj = reader.mapping(document, kind)
    reader.raise_if_any()
    assert obj is not None
    fields = cls._read(obj, reader)
    try:
        message = cls(**fields)
    except ValidationError as refused:
        seen = [problem.path for problem in reader.problems]
        reader.raise_if_any([p for p in refused.errors if not covered(p.path, seen)])
        raise
    reader.raise_if_any()
    return with_leftover(message, obj)
