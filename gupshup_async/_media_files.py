"""What Gupshup and WhatsApp take as media: MIME types and their sizes, checked before an
upload. Pure.
"""

from __future__ import annotations

from typing import Final

from gupshup_async.errors import ValidationError

_MB: Final = 1024 * 1024
_DOCUMENT: Final = 100 * _MB

#: Meta, "Supported media types" (Cloud API): each MIME type WhatsApp delivers, and its largest
#: file. Gupshup's media endpoint takes up to 100 MB and keeps a file 30 days.
MEDIA_LIMITS: Final[dict[str, int]] = {
    "image/jpeg": 5 * _MB,
    "image/png": 5 * _MB,
    "image/webp": 500 * 1024,  # a sticker: 100 KB static, 500 KB animated
    "video/mp4": 16 * _MB,
    "video/3gpp": 16 * _MB,
    "audio/aac": 16 * _MB,
    "audio/amr": 16 * _MB,
    "audio/mpeg": 16 * _MB,
    "audio/mp4": 16 * _MB,
    "audio/ogg": 16 * _MB,  # OPUS codec: plays as a voice note
    "text/plain": _DOCUMENT,
    "application/pdf": _DOCUMENT,
    "application/msword": _DOCUMENT,
    "application/vnd.ms-excel": _DOCUMENT,
    "application/vnd.ms-powerpoint": _DOCUMENT,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _DOCUMENT,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _DOCUMENT,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _DOCUMENT,
}


def check_upload(mime_type: object, size: int) -> str:
    """The MIME type, lowercased, when a file of ``size`` bytes of it may be sent; else a
    `ValidationError` at ``file_type`` or ``file`` saying what WhatsApp takes.
    """
    if not isinstance(mime_type, str) or mime_type.lower() not in MEDIA_LIMITS:
        known = ", ".join(MEDIA_LIMITS)
        raise ValidationError.at("file_type", f"must be one of {known}; got {mime_type!r}")
    kind = mime_type.lower()
    if size == 0:
        raise ValidationError.at("file", "is empty")
    most = MEDIA_LIMITS[kind]
    if size > most:
        raise ValidationError.at(
            "file",
            f"is {size:,} bytes: WhatsApp takes {kind} up to {most:,} bytes",
        )
    return kind
