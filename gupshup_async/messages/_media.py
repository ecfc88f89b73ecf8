"""Media messages: an image, a video, an audio (voice notes too), a document, a sticker, each
by the id of media uploaded to Gupshup or by an http(s) link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._free_form import FreeFormBase
from gupshup_async.messages._json import JSON, Reader
from gupshup_async.messages._parts import copy_extra

#: Meta's OpenAPI ``MediaObject``: "caption", at most 1024 characters (image, video, document).
CAPTION_MAX: Final = 1024


@attrs.frozen
class _MediaMessage(FreeFormBase):
    """The media object: exactly one of ``link`` (http or https, as Meta's ``MediaObject``
    allows) or ``id`` (`GupshupClient.upload_media` gives one).
    """

    link: str | None = None
    id: str | None = attrs.field(default=None, kw_only=True)

    CAPTION: ClassVar[bool] = False
    FILENAME: ClassVar[bool] = False

    def _check(self, out: list[Problem], path: str) -> None:
        if (self.link is None) == (self.id is None):
            out.append(Problem(path, "must have exactly one of 'id' or 'link'"))
        if self.link is not None:
            rules.https_url(out, f"{path}.link", self.link, schemes=("https", "http"))
        if self.id is not None:
            rules.identifier(out, f"{path}.id", self.id, rules.MEDIA_ID_MAX)

    def _fields_json(self) -> JSON:
        return {"id": self.id} if self.id is not None else {"link": self.link}

    @classmethod
    def _read(cls, document: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
        fields: dict[str, Any] = {"link": document.get("link"), "id": document.get("id")}
        if cls.CAPTION:
            fields["caption"] = document.get("caption")
        if cls.FILENAME:
            fields["filename"] = document.get("filename")
        return fields


@attrs.frozen
class _CaptionedMessage(_MediaMessage):
    caption: str | None = attrs.field(default=None, kw_only=True)

    CAPTION: ClassVar[bool] = True

    def _check(self, out: list[Problem], path: str) -> None:
        super()._check(out, path)
        rules.text(out, f"{path}.caption", self.caption, CAPTION_MAX, required=False)

    def _fields_json(self) -> JSON:
        out = super()._fields_json()
        if self.caption is not None:
            out["caption"] = self.caption
        return out


@attrs.frozen
class ImageMessage(_CaptionedMessage):
    """``ImageMessage("https://example.com/receipt.jpg", caption="Your receipt")``, or
    ``ImageMessage(id=media_id)``. JPEG or PNG, at most 5 MB (Meta's supported media).
    """

    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    PAYLOAD: ClassVar[str] = "image"


@attrs.frozen
class VideoMessage(_CaptionedMessage):
    """A video by ``link`` or ``id``, with an optional caption. MP4 or 3GPP (H.264 video, AAC
    audio), at most 16 MB.
    """

    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    PAYLOAD: ClassVar[str] = "video"


@attrs.frozen
class AudioMessage(_MediaMessage):
    """An audio by ``link`` or ``id``; no caption (WhatsApp shows none). AAC, AMR, MP3, M4A or
    OGG, at most 16 MB; an OGG file with the OPUS codec (mono) plays as a voice note.
    """

    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    PAYLOAD: ClassVar[str] = "audio"


@attrs.frozen
class DocumentMessage(_CaptionedMessage):
    """A document by ``link`` or ``id``, with an optional caption and ``filename`` (the name
    the user sees and saves it under). PDF, text, Office formats, at most 100 MB.
    """

    filename: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    PAYLOAD: ClassVar[str] = "document"
    FILENAME: ClassVar[bool] = True

    def _check(self, out: list[Problem], path: str) -> None:
        super()._check(out, path)
        rules.text(out, f"{path}.filename", self.filename, rules.MEDIA_ID_MAX, required=False)

    def _fields_json(self) -> JSON:
        out = super()._fields_json()
        if self.filename is not None:
            out["filename"] = self.filename
        return out


@attrs.frozen
class StickerMessage(_MediaMessage):
    """A sticker by ``link`` or ``id``; no caption. WebP, 512x512 pixels, at most 100 KB (500
    KB animated).
    """

    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    PAYLOAD: ClassVar[str] = "sticker"
