"""From what came back to what it means. Pure: no I/O, no clock of its own.

An answer read in full (status, ``Retry-After``, body) becomes an accepted message's ids or an
`APIError`. Every request's answer is read here, so one answer always means one thing; what
the HTTP engine's own failures mean is decided beside the engine, in ``_http.py``.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from gupshup_async.errors import (
    CODES,
    PAIR_RATE_LIMIT,
    AccountError,
    APIError,
    AppNotOnCloudError,
    AuthenticationError,
    BillingNotEnabledError,
    InvalidAppError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = [
    "MAX_ANSWER_BYTES",
    "accepted_ids",
    "error_from_response",
    "parse_retry_after",
    "unexpected_interim",
]

#: The most of an answer's body that is read. Gupshup's answers are a few hundred bytes; a
#: larger one is not Gupshup's, and reading on would let a broken server fill our memory.
MAX_ANSWER_BYTES = 1024 * 1024
_BODY_KEPT = 4096


# Success -------------------------------------------------------------------------------------


def accepted_ids(status: int, content: bytes) -> tuple[str, str | None, str | None]:
    """The message id, the recipient's WhatsApp id and business-scoped user id from a success
    answer.

    A 2xx without a message id is accepted yet unknown: an `APIError` that is not worth
    retrying (it may have gone out) and says so.
    """
    try:
        data = json.loads(content)
        message_id = data["messages"][0]["id"]
        if not isinstance(message_id, str) or not message_id:
            raise TypeError(message_id)
    except (ValueError, LookupError, TypeError):
        raise APIError(
            "the message was accepted but the answer carries no message id",
            status_code=status,
            body=_text(content),
            transient=False,
            ambiguous=True,
        ) from None
    return message_id, _contact(data, "wa_id"), _contact(data, "user_id")


def _contact(data: Mapping[str, Any], field: str) -> str | None:
    contacts = data.get("contacts")
    if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict):
        value = contacts[0].get(field)
        if isinstance(value, str):
            return value
    return None


def unexpected_interim(status: int) -> TransportError:
    """A 1xx as the final answer (a ``101 Switching Protocols``, say): the server speaks
    something else now. Nothing after it is read as our answer; the request reached it.
    """
    return TransportError(f"the server answered {status} and no final answer", ambiguous=True)


# Refusals ------------------------------------------------------------------------------------

_META_RATE_LIMITS = frozenset({4, 80007, 130429, PAIR_RATE_LIMIT})
_META_AUTH = frozenset({190})
_CLOUD_ONLY = 4004
# Gupshup says which app problem it is only in words.
_APP_ERRORS: tuple[tuple[re.Pattern[str], type[APIError]], ...] = (
    (re.compile(r"billing", re.IGNORECASE), BillingNotEnabledError),
    (re.compile(r"invalid app", re.IGNORECASE), InvalidAppError),
    (re.compile(r"expected type|on cloud", re.IGNORECASE), AppNotOnCloudError),
)
# A 500, 502 or 504 may come after the message was handed on: it may have gone out.
_AMBIGUOUS_STATUSES = frozenset({500, 502, 504})


def error_from_response(
    status_code: int, content: bytes, retry_after: float | None = None
) -> APIError:
    """The error an unsuccessful answer stands for. Any body will do: JSON of Gupshup's or
    Meta's shape, HTML from a proxy, nothing at all, or bytes that are not UTF-8.
    """
    message, code = _message_and_code(content)
    if not message:
        message = _reason(status_code)
    fields: dict[str, Any] = {
        "status_code": status_code,
        "body": _text(content),
        "code": code,
        "retry_after": retry_after,
    }
    if code in _META_RATE_LIMITS or status_code == 429:
        return RateLimitError(message, **fields)
    known = CODES.get(code) if code is not None else None
    if known is not None:  # the code says more than the status (a 403 for one recipient)
        if known.retried:
            return ServerError(message, **fields)
        if code in _META_AUTH:
            return AuthenticationError(message, **fields)
        if code == _CLOUD_ONLY:
            return AppNotOnCloudError(message, **fields)
        if known.scope == "account":
            return AccountError(message, transient=False, **fields)
        return APIError(message, transient=False, **fields)
    if status_code in (401, 403):
        return AuthenticationError(message, **fields)
    if status_code >= 500:
        return ServerError(message, ambiguous=status_code in _AMBIGUOUS_STATUSES, **fields)
    if status_code == 400 and code is None:
        for pattern, kind in _APP_ERRORS:
            if pattern.search(message):
                return kind(message, **fields)
    return APIError(message, transient=status_code == 408, **fields)


def _message_and_code(content: bytes) -> tuple[str, int | None]:
    """What a JSON error body says, in either shape; nothing for anything else."""
    if not content or content.lstrip()[:1] not in (b"{", b"["):
        return "", None
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):  # invalid JSON and invalid UTF-8 alike
        return "", None
    if not isinstance(data, Mapping):
        return "", None
    meta = data.get("error")
    if isinstance(meta, Mapping):
        code = meta.get("code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        message = _as_text(meta.get("message"))
        details = meta.get("error_data")
        if isinstance(details, Mapping) and isinstance(details.get("details"), str):
            message = f"{message} ({details['details']})" if message else details["details"]
        return message, code
    return _as_text(data.get("message")) or _as_text(meta), _gupshup_code(data.get("code"))


def _gupshup_code(value: object) -> int | None:
    """Gupshup's own code, given as a number or as digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value)
    return None


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value[:500]
    return ""


def _text(content: bytes) -> str:
    return content[:_BODY_KEPT].decode("utf-8", errors="replace")


def _reason(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "unexpected answer"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header in seconds from ``now`` (a Unix time): delay-seconds or an
    HTTP date; None when absent or unreadable. Never negative.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value)) if value.replace(".", "", 1).isdigit() else _date(value, now)
    except (TypeError, ValueError, OverflowError):
        return None


def _date(value: str, now: float) -> float | None:
    when = email.utils.parsedate_to_datetime(value)
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


# Engine failures -----------------------------------------------------------------------------
