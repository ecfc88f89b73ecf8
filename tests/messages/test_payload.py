"""The whole request body, and the recipient in it."""

from __future__ import annotations

import pytest

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
