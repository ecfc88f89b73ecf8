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
from gupshup_async.messages._free_forms import FREE_FORM_TYPES, FreeFormMessage, parse_free_form
from gupshup_async.messages._limits import show
from gupshup_async.messages._messages import InteractiveMessage, parse_interactive
from gupshup_async.messages._template import TemplateMessage, parse_template

#: Anything `GupshupClient.send` sends: an interactive message, a template, or a free-form
#: message (text, media, location, contacts, reaction).
Message = InteractiveMessage | TemplateMessage | FreeFormMessage

_SEPARATORS = str.maketrans("", "", " -().\u00a0\t")


# Meta's business-scoped user ids: a country code, a dot, then the id ("US.13491208655302741918");
# a parent user id has "ENT." before the id ("US.ENT.11815799212886844830").
_USER_ID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[0-9A-Za-z]{1,64}")


def is_user_id(recipient: str) -> bool:
    """Whether ``recipient`` is a business-scoped user id (or a parent user id, ``US.ENT.…``)
    rather than a phone number.
    """
    return _USER_ID.fullmatch(recipient) is not None


def user_id_refused(template: str) -> ValidationError:
    """Why an authentication template does not go to a user id: Meta sends them (one-tap,
    zero-tap, copy-code) to phone numbers only, and refuses them with 131062.
    """
    return ValidationError.at(
        "to",
        f"{template} is an authentication template: WhatsApp sends those to phone numbers only "
        "(131062 for a business-scoped user id); send it to the user's number",
    )


def normalize_recipient(to: object, region: str | None = None) -> str:
    """The recipient as WhatsApp ids are written: country code and number, digits only; or a
    business-scoped user id (``US.13491208655302741918``) or parent user id
    (``US.ENT.11815799212886844830``), as it is: it is sent as ``recipient``, as Meta documents.

    Accepts ``+``, spaces, dashes, dots, brackets and a leading ``00``. A number written with
    ``+`` or ``00`` is international; one written without is read in ``region`` (an ISO
    country code, ``"IN"``: ``98765 43210`` and ``098765 43210`` are +91 98765 43210, and
    ``919876543210`` stays itself), or, without a region, as already international
    (``919876543210``, as WhatsApp ids are written). Either way the number must be a valid
    one for its country (phonenumbers' ``is_valid_number``): a local number without a region,
    read as international, almost never is, and is refused rather than sent to a stranger.
    Raises `ValidationError` (path ``to``) saying why.
    """
    if not isinstance(to, str):
        raise ValidationError.at("to", f"must be a phone number string, got {type(to).__name__}")
    if is_user_id(to):
        return to
    return _normalize(to, region.upper() if region else None)


@functools.lru_cache(maxsize=16384)
def _normalize(to: str, region: str | None) -> str:
    compact = to.translate(_SEPARATORS)
    international = compact.startswith(("+", "00"))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    digits = compact[1:] if compact.startswith("+") else compact
    if not digits.isdigit() or not digits.isascii():
        raise ValidationError.at("to", f"must be a phone number, got {show(to)}")
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError.at("to", f"{region!r} is not a country code (IN, BR, US...)")
    if not international and region is None and digits.startswith("0"):
        raise ValidationError.at("to", _needs_region(to))
    try:
        if international or region is None:
            number = phonenumbers.parse("+" + digits, None)
        else:
            number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException as exc:
        reason = _PARSE_FAULTS.get(exc.error_type, "not a phone number")
        raise ValidationError.at("to", f"is not a phone number ({reason}): {show(to)}") from None
    if not phonenumbers.is_valid_number(number):
        if international:
            why = f"is not a valid phone number: {show(to)}"
        elif region is None:
            why = _needs_region(to)
        else:
            why = f"is not a valid phone number in {region}: {show(to)}"
        raise ValidationError.at("to", why)
    return f"{number.country_code}{number.national_number:0{_national_width(number)}d}"


def _needs_region(to: str) -> str:
    return (
        f"is not a valid international number: {show(to)} (a number written without its "
        "country code needs a default country: default_region='IN', --country IN)"
    )


_PARSE_FAULTS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "no known country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the country code",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


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
    for kind in ("interactive", "template", *FREE_FORM_TYPES)
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
    """Read a message from JSON: a whole request body (its ``type`` says which: ``text``,
    ``image``, ``template``, ``interactive``...; without one, the one message object it has,
    as in Meta's text example), ``{"interactive": {...}}``, ``{"text": {...}}`` and the like,
    or a bare interactive object (it has a ``type``) or template (a ``name`` and a
    ``language``).

    Raises `ValidationError` with every problem and its path, as `parse_interactive` does.
    """
    if not isinstance(document, Mapping):
        raise ValidationError.at(
            "interactive", f"must be a JSON object, got {type(document).__name__}"
        )
    kind = document.get("type")
    if isinstance(kind, str) and kind in FREE_FORM_TYPES:
        if kind not in document:
            raise ValidationError.at(kind, "is required: the message's object")
        return parse_free_form(kind, document[kind])
    if kind is None:
        present = [k for k in FREE_FORM_TYPES if k in document]
        if len(present) == 1 and "interactive" not in document and "template" not in document:
            return parse_free_form(present[0], document[present[0]])
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
