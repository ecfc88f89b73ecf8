"""The whole request body, and the recipient in it."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gupshup_async import ButtonMessage, ValidationError, build_payload, normalize_recipient

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


@given(st.sampled_from(_COUNTRY_CODES), st.text(alphabet="0123456789", min_size=1, max_size=15))
def test_a_number_is_taken_exactly_when_phonenumbers_calls_it_valid(
    country: int, national: str
) -> None:
    written = f"+{country}{national}"
    try:
        parsed = phonenumbers.parse(written, None)
        valid = phonenumbers.is_valid_number(parsed)
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        with pytest.raises(ValidationError) as caught:
            normalize_recipient(written)
        assert caught.value.path == "to"
        return
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    assert normalize_recipient(written) == e164.lstrip("+")


@pytest.mark.parametrize(
    ("written", "region"),
    [
        ("98765 43210", "IN"),
        ("098765 43210", "IN"),
        ("09876543210", "in"),
        ("919876543210", "IN"),  # already international: kept
        ("+91 98765 43210", "BR"),  # written with its country code: the region does not apply
    ],
)
def test_local_numbers_are_read_in_the_default_region(written: str, region: str) -> None:
    assert normalize_recipient(written, region) == "919876543210"


@pytest.mark.parametrize("written", ["9876543210", "098765 43210", "98765 43210"])
def test_a_local_number_without_a_region_is_refused_not_sent_to_a_stranger(written: str) -> None:
    # 9876543210 read as international is +98 76543210, in Iran: not a valid number there.
    with pytest.raises(ValidationError, match="needs a default country") as caught:
        normalize_recipient(written)
    assert caught.value.path == "to"


@pytest.mark.parametrize("written", ["+1 555 0100", "+1 555 010 0100", "+91 02345 67890"])
def test_numbers_of_a_possible_length_that_are_not_valid_are_refused(written: str) -> None:
    with pytest.raises(ValidationError, match="is not a valid phone number"):
        normalize_recipient(written)


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(ValidationError, match="'XX' is not a country code"):
        normalize_recipient("98765 43210", "XX")
