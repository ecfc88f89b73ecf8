"""The whole request body: recipient, envelope and the interactive object."""

from __future__ import annotations

import functools
import re
from typing import Any

import phonenumbers

from gupshup_async.errors import ValidationError
from gupshup_async.messages._messages import Message
from gupshup_async.messages._rules import show

_SEPARATORS = str.maketrans("", "", " -().\u00a0\t")


def normalize_recipient(to: object) -> str:
    """The recipient as WhatsApp ids are written: country code and number, digits only.

    Accepts ``+``, spaces, dashes, dots, brackets and a leading ``00``; a number without ``+`` is
    read as already international (``919876543210``), as WhatsApp ids are. Raises
    `ValidationError` (path ``to``) for anything that cannot be a phone number.
    """
    if not isinstance(to, str):
        raise ValidationError.at("to", f"must be a phone number string, got {type(to).__name__}")
    return _normalize(to)


@functools.lru_cache(maxsize=4096)
def _normalize(to: str) -> str:
    compact = to.translate(_SEPARATORS)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif not compact.startswith("+"):
        compact = "+" + compact
    digits = compact[1:]
    if not digits.isdigit():
        raise ValidationError.at("to", f"must be a phone number, got {show(to)}")
    if _plainly_possible(digits):
        return digits
    return _by_phonenumbers(compact, to)


def _by_phonenumbers(compact: str, to: str) -> str:
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError.at("to", f"is not a phone number ({exc._msg}): {show(to)}") from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationError.at("to", f"is not a possible phone number: {show(to)}")
    return f"{number.country_code}{number.national_number:0{_national_width(number)}d}"


def _plainly_possible(digits: str) -> bool:
    """Whether phonenumbers would take ``digits`` (after ``+``) as they are: a known country
    code, then a national number that cannot start with a national prefix to strip and has a
    length the country uses. True settles it in about a microsecond; False means ask
    phonenumbers, which takes fifty (and tells a bad number from an unusual one).
    """
    if not digits.isascii() or digits[0] == "0":
        return False
    for width in (1, 2, 3):
        country = _country(int(digits[:width]))
        if country is not None:
            national = digits[width:]
            prefix, lengths = country
            return len(national) in lengths and (prefix is None or not prefix.match(national))
    return False


@functools.cache
def _country(code: int) -> tuple[re.Pattern[str] | None, frozenset[int]] | None:
    """A country calling code's national prefix pattern and possible national lengths, as
    phonenumbers' ``parse`` and ``is_possible_number`` read them; None for an unknown code.
    """
    if code not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        return None
    region = phonenumbers.region_code_for_country_code(code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None or metadata.general_desc is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    lengths = frozenset(metadata.general_desc.possible_length or ())
    return (re.compile(prefix) if prefix else None), lengths


def _national_width(number: phonenumbers.PhoneNumber) -> int:
    # Italian numbers keep their leading zeros (phonenumbers stores them apart).
    zeros = number.number_of_leading_zeros or 1 if number.italian_leading_zero else 0
    return len(str(number.national_number)) + zeros


_ENVELOPE = (
    b'{"messaging_product":"whatsapp","recipient_type":"individual","to":"%s",'
    b'"type":"interactive","interactive":%s}'
)


def encode_payload(to: str, message: Message) -> bytes:
    """`build_payload` as the bytes sent: the message's JSON is made once and reused."""
    return encode_normalized(normalize_recipient(to), message)


def encode_normalized(recipient: str, message: Message) -> bytes:
    """`encode_payload` for a recipient `normalize_recipient` already gave: the send path
    normalises once, to know who it is sending to, and does not pay for it twice.
    """
    return _ENVELOPE % (recipient.encode(), message.encoded())


def build_payload(to: str, message: Message) -> dict[str, Any]:
    """The request body Gupshup's v3 message endpoint takes, for one recipient."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": normalize_recipient(to),
        "type": "interactive",
        "interactive": message.to_interactive(),
    }
