"""The limits WhatsApp enforces, and the small checks that apply them.

Every check appends `Problem`s to a list instead of raising, so that one pass over a message
reports everything wrong with it. Checks accept any value (a template read from JSON may hold a
number where a string belongs) and never raise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from gupshup_async.errors import Problem

# Every limit names its source: a page of Meta's developer documentation ("Meta, <page>"),
# Meta's OpenAPI description (business-messaging-api_v23.0.yaml), or "ours: why" where WhatsApp
# documents none and the library still refuses garbage. Lengths are in Unicode code points, as
# WhatsApp counts them.

# Meta, "Interactive messages" (common parts); the list page gives lists 4096.
BODY_MAX: Final = 1024
LIST_BODY_MAX: Final = 4096
FOOTER_MAX: Final = 60
HEADER_TEXT_MAX: Final = 60

# Meta, "Interactive reply buttons messages".
BUTTONS_MIN: Final = 1
BUTTONS_MAX: Final = 3
BUTTON_ID_MAX: Final = 256
BUTTON_TITLE_MAX: Final = 20

# Meta, "Interactive list messages". Section titles: the current page says required, the
# OpenAPI says required when there is more than one section; we follow the OpenAPI (a single
# untitled section is what Meta's own list example sends).
LIST_BUTTON_MAX: Final = 20
SECTIONS_MIN: Final = 1
SECTIONS_MAX: Final = 10
ROWS_MIN: Final = 1
ROWS_MAX: Final = 10
ROW_ID_MAX: Final = 200
ROW_TITLE_MAX: Final = 24
ROW_DESCRIPTION_MAX: Final = 72
SECTION_TITLE_MAX: Final = 24

# Meta, "Interactive CTA URL button messages".
CTA_DISPLAY_TEXT_MAX: Final = 20

# Meta, "Sending flows" and the OpenAPI ActionObject.
FLOW_CTA_MAX: Final = 30
FLOW_MESSAGE_VERSION: Final = "3"
FLOW_MODES: Final = ("draft", "published")
FLOW_ACTIONS: Final = ("navigate", "data_exchange")

# Meta, "Multi-product messages".
PRODUCT_ITEMS_MAX: Final = 30

# Meta, "Address messages": India is the only country served today.
ADDRESS_COUNTRIES: Final = ("IN",)

# Meta, "Interactive call button messages".
VOICE_CALL_DISPLAY_TEXT_MAX: Final = 20
VOICE_CALL_TTL_MINUTES: Final = (1, 43200)
VOICE_CALL_PAYLOAD_MAX: Final = 512

# Ours: WhatsApp states no length for these; the caps refuse garbage, far above real values.
ID_MAX: Final = 256  # flow, catalog and product ids, flow names and screens
MEDIA_ID_MAX: Final = 1024  # uploaded media ids and document filenames
URL_MAX: Final = 2048  # any URL
FLOW_TOKEN_MAX: Final = 4096

# Meta, "Interactive media carousel messages": 2 to 10 cards; card body at most 160 characters
# and 2 line breaks; "one or more" quick replies per card, no maximum stated. The cap of 3 is
# library-imposed: no other message takes more reply buttons (pywa caps at 3 too).
CARDS_MIN: Final = 2
CARDS_MAX: Final = 10
CARD_BODY_MAX: Final = 160
CARD_BODY_LINE_BREAKS_MAX: Final = 2
CARD_QUICK_REPLIES_MAX: Final = 3

# Meta, payments (India, Brazil) and the OpenAPI examples of order_details / order_status. Meta
# states no lengths for these ids; the caps are ours, to refuse garbage, far above real ids.
REFERENCE_ID_MAX: Final = 256
CURRENCY_MAX: Final = 3
AMOUNT_MAX: Final = 10**12
GOODS_TYPES: Final = ("digital-goods", "physical-goods")
ORDER_STATUSES: Final = (
    "pending",
    "processing",
    "partially-shipped",
    "shipped",
    "completed",
    "canceled",
)
ORDER_DESCRIPTION_MAX: Final = 1024  # ours: no length is stated; as long as a body

_SHOWN_MAX = 40


def show(value: object) -> str:
    """A value as an error message quotes it: short, and never a wall of text."""
    text = repr(value)
    if len(text) > _SHOWN_MAX:
        text = text[: _SHOWN_MAX - 1] + "…"
    return text


def type_name(value: object) -> str:
    return type(value).__name__


def text(
    out: list[Problem],
    path: str,
    value: object,
    max_len: int,
    *,
    required: bool = True,
) -> None:
    """A string of at most ``max_len`` code points; not blank when present."""
    if value is None:
        if required:
            out.append(Problem(path, "is required"))
        return
    if not isinstance(value, str):
        out.append(Problem(path, f"must be a string, got {type_name(value)} {show(value)}"))
        return
    if not value.strip():
        out.append(Problem(path, f"must not be empty or blank, got {show(value)}"))
        return
    if len(value) > max_len:
        out.append(
            Problem(path, f"must be at most {max_len} characters, got {len(value)}: {show(value)}")
        )


def line_breaks(out: list[Problem], path: str, value: object, most: int) -> None:
    """At most ``most`` line breaks in a text (other checks report a value that is not one)."""
    if isinstance(value, str):
        found = value.count("\n")
        if found > most:
            out.append(Problem(path, f"must have at most {most} line breaks, got {found}"))


def identifier(out: list[Problem], path: str, value: object, max_len: int) -> None:
    """A required id: `text`, and no spaces around it (WhatsApp refuses them)."""
    before = len(out)
    text(out, path, value, max_len)
    if len(out) == before and isinstance(value, str) and value != value.strip():
        out.append(Problem(path, f"must not start or end with whitespace, got {show(value)}"))


def choice(
    out: list[Problem], path: str, value: object, allowed: Iterable[str], *, required: bool
) -> None:
    allowed = tuple(allowed)
    if value is None:
        if required:
            out.append(Problem(path, f"is required, one of {', '.join(allowed)}"))
        return
    if value not in allowed:
        out.append(Problem(path, f"must be one of {', '.join(allowed)}, got {show(value)}"))


def https_url(out: list[Problem], path: str, value: object, *, schemes: tuple[str, ...]) -> None:
    """An absolute URL with one of ``schemes`` and a host."""
    before = len(out)
    text(out, path, value, URL_MAX)
    if len(out) > before or not isinstance(value, str):
        return
    scheme, sep, rest = value.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not sep or scheme.lower() not in schemes or not host or any(c.isspace() for c in value):
        wanted = " or ".join(f"{s}://" for s in schemes)
        out.append(Problem(path, f"must be an absolute {wanted} URL, got {show(value)}"))


def count(out: list[Problem], path: str, found: int, low: int, high: int, what: str) -> None:
    if low <= found <= high:
        return
    span = f"exactly {low}" if low == high else f"{low} to {high}"
    out.append(Problem(path, f"must have {span} {what}, got {found}"))


def unique(out: list[Problem], entries: Iterable[tuple[str, object]], what: str) -> None:
    """Each value once: a repeat is reported at its own path, naming the first."""
    first_seen: dict[object, str] = {}
    for path, value in entries:
        if not isinstance(value, str):
            continue  # already reported by the type check
        if value in first_seen:
            out.append(
                Problem(path, f"{what} {show(value)} is already used at {first_seen[value]}")
            )
        else:
            first_seen[value] = path


def non_empty_object(out: list[Problem], path: str, value: object) -> None:
    if not isinstance(value, Mapping):
        out.append(Problem(path, f"must be a JSON object, got {type_name(value)}"))
    elif not value:
        out.append(Problem(path, "must not be an empty object"))


def integer(out: list[Problem], path: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        out.append(Problem(path, f"must be a whole number, got {type_name(value)} {show(value)}"))
    elif not low <= value <= high:
        out.append(Problem(path, f"must be from {low} to {high}, got {value}"))


def is_json_value(value: Any) -> bool:
    """True for what JSON can hold exactly: checked on free-form user data."""
    return json_problem(value, "") is None


def json_problem(value: Any, path: str) -> Problem | None:
    """The first place in ``value`` that JSON cannot hold exactly, or None: an object that is
    not a JSON type, a key that is not a string, NaN or infinity, a lone surrogate.
    """
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return Problem(path, f"is not valid Unicode (a lone surrogate): {show(value)}")
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else Problem(path, f"must be finite, got {value}")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problem = json_problem(item, f"{path}[{i}]")
            if problem is not None:
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return Problem(path, f"has a key that is not a string: {show(key)}")
            problem = json_problem(item, f"{path}.{key}" if path else key)
            if problem is not None:
                return problem
        return None
    return Problem(path, f"must be a JSON value, got {type_name(value)} {show(value)}")
