"""The whole request body: recipient, envelope and the message (interactive or template)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs
import phonenumbers

from gupshup_async.errors import ValidationError
from gupshup_async.messages._limits import show
from gupshup_async.messages._messages import InteractiveMessage, parse_interactive
from gupshup_async.messages._template import TemplateMessage, parse_template

#: Anything `GupshupClient.send` sends: an interactive message, or a template.
Message = InteractiveMessage | TemplateMessage

_SEPARATORS = str.maketrans("", "", " -().\u00a0\t")


# Meta's business-scoped user ids: a country code, a dot, then the id ("US.13491208655302741918").
_USER_ID = re.compile(r"[A-Z]{2}\.[0-9A-Za-z]{1,64}")


def is_user_id(recipient: str) -> bool:
    """Whether ``recipient`` is a business-scoped user id rather than a phone number."""
    return _USER_ID.fullmatch(recipient) is not None


def normalize_recipient(to: object) -> str:
    """The recipient as WhatsApp ids are written: country code and number, digits only; or a
    business-scoped user id (``US.13491208655302741918``), as it is.

    Accepts ``+``, spaces, dashes, dots, brackets and a leading ``00``; a number without ``+`` is
    read as already international (``919876543210``), as WhatsApp ids are. Raises
    `ValidationError` (path ``to``) for anything that cannot be a phone number or a user id.
    """
    if not isinstance(to, str):
        raise ValidationError.at("to", f"must be a phone number string, got {type(to).__name__}")
    if is_user_id(to):
        return to
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
        reason = _PARSE_FAULTS.get(exc.error_type, "not a phone number")
        raise ValidationError.at("to", f"is not a phone number ({reason}): {show(to)}") from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationError.at("to", f"is not a possible phone number: {show(to)}")
    return f"{number.country_code}{number.national_number:0{_national_width(number)}d}"


_PARSE_FAULTS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "no known country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the country code",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


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


CALLBACK_DATA_MAX = 512  # Meta, "Send messages": biz_opaque_callback_data


def _reply_to(instance: Envelope, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError.at("context.message_id", f"must be a message id, got {show(value)}")


def _callback_data(
    instance: Envelope, attribute: attrs.Attribute[str | None], value: object
) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise ValidationError.at("biz_opaque_callback_data", f"must be text, got {show(value)}")
    if len(value) > CALLBACK_DATA_MAX:
        raise ValidationError.at(
            "biz_opaque_callback_data",
            f"must be at most {CALLBACK_DATA_MAX} characters, got {len(value)}",
        )


@attrs.frozen
class Envelope:
    """What a request carries around the message: ``reply_to``, the id (wamid) of a message of
    the user's to answer in context (``context.message_id``); ``callback_data``, your own tag of
    up to 512 characters that Meta echoes in this message's status webhooks
    (``biz_opaque_callback_data``).
    """

    reply_to: str | None = attrs.field(default=None, validator=_reply_to)
    callback_data: str | None = attrs.field(default=None, validator=_callback_data)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.reply_to is not None:
            out["context"] = {"message_id": self.reply_to}
        if self.callback_data is not None:
            out["biz_opaque_callback_data"] = self.callback_data
        return out


NO_ENVELOPE = Envelope()

_HEAD = b'{"messaging_product":"whatsapp","recipient_type":"individual",'
_TAILS = {
    kind: b'"type":"%s","%s":' % (kind.encode(), kind.encode())
    for kind in ("interactive", "template")
}


def encode_payload(to: str, message: Message, envelope: Envelope = NO_ENVELOPE) -> bytes:
    """`build_payload` as the bytes sent: the message's JSON is made once and reused."""
    return encode_normalized(normalize_recipient(to), message, envelope)


def encode_normalized(recipient: str, message: Message, envelope: Envelope = NO_ENVELOPE) -> bytes:
    """`encode_payload` for a recipient `normalize_recipient` already gave: the send path
    normalises once, to know who it is sending to, and does not pay for it twice.
    """
    field = b'"recipient":"%s",' if is_user_id(recipient) else b'"to":"%s",'
    extra = envelope.fields()
    middle = json.dumps(extra, separators=(",", ":")).encode()[1:-1] + b"," if extra else b""
    tail = _TAILS[message.PAYLOAD]
    return _HEAD + field % recipient.encode() + middle + tail + message.encoded() + b"}"


def build_payload(
    to: str,
    message: Message,
    *,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """The request body Gupshup's v3 message endpoint takes, for one recipient (a phone number
    or a business-scoped user id), with the envelope options of `Envelope`.
    """
    recipient = normalize_recipient(to)
    envelope = Envelope(reply_to, callback_data)
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        ("recipient" if is_user_id(recipient) else "to"): recipient,
        **envelope.fields(),
        "type": message.PAYLOAD,
        message.PAYLOAD: message.to_json(),
    }


def parse_message(document: Mapping[str, Any]) -> Message:
    """Read a message from JSON: a whole request body (``"type": "template"`` or
    ``"interactive"``), ``{"interactive": {...}}`` or ``{"template": {...}}``, or the bare
    object: an interactive one has a ``type``, a template a ``name`` and a ``language``.

    Raises `ValidationError` with every problem and its path, as `parse_interactive` does.
    """
    if not isinstance(document, Mapping):
        raise ValidationError.at(
            "interactive", f"must be a JSON object, got {type(document).__name__}"
        )
    kind = document.get("type")
    if kind in ("template", "interactive") and isinstance(document.get(kind), Mapping):
        inner = document[kind]
        return parse_template(inner) if kind == "template" else parse_interactive(inner)
    if isinstance(document.get("template"), Mapping) and "interactive" not in document:
        return parse_template(document["template"])
    if isinstance(document.get("interactive"), Mapping):
        return parse_interactive(document["interactive"])
    if "name" in document and "language" in document and "type" not in document:
        return parse_template(document)
    return parse_interactive(document)
