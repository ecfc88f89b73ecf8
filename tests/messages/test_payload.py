"""The whole request body, and the recipient in it."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gupshup_async import ButtonMessage, ValidationError, build_payload, normalize_recipient
from gupshup_async.messages._payload import _by_phonenumbers, _country, _plainly_possible

MESSAGE = ButtonMessage("Pick one", ["Yes", "No"])


def test_payload_is_the_v3_envelope() -> None:
    assert build_payload("+91 98765 43210", MESSAGE) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "919876543210",
        "type": "interactive",
        "interactive": MESSAGE.to_interactive(),
    }


@pytest.mark.parametrize(
    "written",
    [
        "+919876543210",
        "919876543210",
        "+91 98765 43210",
        "+91-98765-43210",
        "0091 98765 43210",
        "(+91) 98765.43210",
    ],
)
def test_recipients_in_their_usual_forms(written: str) -> None:
    assert normalize_recipient(written) == "919876543210"


def test_other_countries() -> None:
    assert normalize_recipient("+1 (650) 555-1234") == "16505551234"
    assert normalize_recipient("+44 20 7946 0958") == "442079460958"
    # Italian landlines keep their leading zero.
    assert normalize_recipient("+39 06 6982 0000") == "390669820000"


@pytest.mark.parametrize(
    "written", ["", "+", "hello", "+91 98765 4321x", "12", "+999 12345678", "+91 1234567890123456"]
)
def test_impossible_numbers_are_refused_at_to(written: str) -> None:
    with pytest.raises(ValidationError) as caught:
        build_payload(written, MESSAGE)
    assert caught.value.path == "to"
    assert len(caught.value.errors) == 1


def test_a_non_string_recipient_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be a phone number string, got int"):
        normalize_recipient(919876543210)


def test_the_bytes_sent_are_the_payload() -> None:
    import json

    from gupshup_async.messages import encode_payload

    for written in ("+91 98765 43210", "919876543210"):
        assert json.loads(encode_payload(written, MESSAGE)) == build_payload(written, MESSAGE)


def test_a_national_prefix_after_the_country_code_is_dropped() -> None:
    # "+44 (0)7911 ...": the shortcut must not take these digits as they are.
    assert normalize_recipient("+44 07911 123456") == "447911123456"


_COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@st.composite
def _numbers(draw: st.DrawFn) -> str:
    """Digits after "+": a known country code, then a national number, usually of a length
    that country uses (so the shortcut has something to settle), starting with any digit.
    """
    country = draw(st.sampled_from(_COUNTRY_CODES))
    known = _country(country)
    lengths = sorted(known[1]) if known is not None and known[1] else [8]
    length = draw(st.sampled_from(lengths) | st.integers(1, 17))
    national = draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
    return f"{country}{national}"


@given(_numbers())
def test_the_shortcut_agrees_with_phonenumbers(digits: str) -> None:
    """Numbers the shortcut settles come out exactly as phonenumbers would make them."""
    if _plainly_possible(digits):
        assert _by_phonenumbers("+" + digits, digits) == digits


def test_the_shortcut_settles_ordinary_mobile_numbers() -> None:
    # Otherwise the fifty-microsecond path would run for every recipient of a campaign.
    for digits in ("919876543210", "14155550123", "447911123456", "5511987654321"):
        assert _plainly_possible(digits), digits
