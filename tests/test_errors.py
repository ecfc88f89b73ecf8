"""From an answer to an error: every documented body, and bodies nobody documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gupshup_async import (
    APIError,
    AppNotOnCloudError,
    AuthenticationError,
    BillingNotEnabledError,
    InvalidAppError,
    RateLimitError,
    ServerError,
)
from gupshup_async.answers import error_from_response
from gupshup_async.errors import CODES, AccountError


def gupshup(message: str) -> bytes:
    return json.dumps({"status": "error", "message": message}).encode()


def meta(code: int, message: str = "failure", details: str | None = None) -> bytes:
    error: dict[str, object] = {"message": message, "type": "OAuthException", "code": code}
    if details:
        error["error_data"] = {"details": details}
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "body", "kind", "transient", "ambiguous"),
    [
        (401, gupshup("Authentication Failed"), AuthenticationError, False, False),
        (401, gupshup("Unauthorized Access"), AuthenticationError, False, False),
        (403, gupshup("Forbidden Access"), AuthenticationError, False, False),
        (
            400,
            gupshup("Callback Billing must be enabled for this API"),
            BillingNotEnabledError,
            False,
            False,
        ),
        (400, gupshup("Invalid App Details"), InvalidAppError, False, False),
        (
            400,
            gupshup(
                "The provided app is not of the expected type for this API. "
                "Please ensure that the app is on cloud."
            ),
            AppNotOnCloudError,
            False,
            False,
        ),
        (429, gupshup("Too Many Requests"), RateLimitError, True, False),
        (500, gupshup("Internal server error. Please try again later"), ServerError, True, True),
        (502, b"<html><body>Bad Gateway</body></html>", ServerError, True, True),
        (503, b"", ServerError, True, False),
        (504, b"", ServerError, True, True),
        (400, meta(130429, "(#130429) Rate limit hit"), RateLimitError, True, False),
        (400, meta(131056, "(#131056) Pair rate limit hit"), RateLimitError, True, False),
        (400, meta(80007), RateLimitError, True, False),
        (400, meta(4), RateLimitError, True, False),
        (400, meta(131000), ServerError, True, False),
        (503, meta(131016), ServerError, True, False),
        (400, meta(131057), ServerError, True, False),
        (401, meta(190, "Access token has expired"), AuthenticationError, False, False),
        (400, meta(131047, "Re-engagement message"), APIError, False, False),
        (400, meta(131026), APIError, False, False),
        (400, meta(100, "Invalid parameter"), APIError, False, False),
        (404, b"Not Found", APIError, False, False),
    ],
)
def test_documented_answers(
    status: int, body: bytes, kind: type[APIError], transient: bool, ambiguous: bool
) -> None:
    error = error_from_response(status, body)
    assert type(error) is kind
    assert error.status_code == status
    assert error.transient is transient
    assert error.ambiguous is ambiguous


def test_meta_error_keeps_code_message_and_details() -> None:
    error = error_from_response(400, meta(131047, "Re-engagement message", "24 hours passed"))
    assert error.code == 131047
    assert error.message == "Re-engagement message (24 hours passed)"
    assert str(error) == "HTTP 400: Re-engagement message (24 hours passed)"


def test_pair_rate_limit_is_for_one_recipient() -> None:
    assert error_from_response(400, meta(131056)).recipient_only  # type: ignore[attr-defined]
    assert not error_from_response(429, b"").recipient_only  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<!DOCTYPE html><html><title>502 Bad Gateway</title></html>",
        b"\xff\xfe\x00not utf-8 \xc3\x28",
        b"{not json",
        b"[1, 2, 3]",
        b'{"error": "just a string"}',
        b'{"error": {"code": "131047", "message": 5}}',
        b'"a json string"',
        b"null",
        b"{" * 100_000,
    ],
)
def test_any_body_is_handled(body: bytes) -> None:
    error = error_from_response(502, body)
    assert isinstance(error, ServerError)
    assert error.message  # says something, even if only the status phrase
    assert len(error.body) <= 4096


def test_a_huge_body_is_cut() -> None:
    error = error_from_response(500, b"x" * 5_000_000)
    assert len(error.body) == 4096
    assert error.message == "Internal Server Error"


def test_gupshup_string_error_field() -> None:
    error = error_from_response(400, b'{"error": "bad thing"}')
    assert error.message == "bad thing"


def gupshup_coded(code: int | str, message: str = "refused") -> bytes:
    return json.dumps({"status": "error", "message": message, "code": code}).encode()


@pytest.mark.parametrize(
    ("status", "body", "kind", "transient", "per_recipient"),
    [
        (403, meta(130497, "Country restricted"), APIError, False, True),
        (400, meta(131026, "Message undeliverable"), APIError, False, True),
        (403, meta(368, "Temporarily blocked for policies violations"), AccountError, False, False),
        (403, meta(131031, "Business Account locked"), AccountError, False, False),
        (400, meta(131048, "Spam rate limit hit"), AccountError, False, False),
        (400, gupshup_coded(1003, "Wallet balance low"), AccountError, False, False),
        (400, gupshup_coded("4001", "API rate limited"), AccountError, False, False),
        (400, gupshup_coded(4004), AppNotOnCloudError, False, False),
        (400, gupshup_coded(1002, "Number does not exist"), APIError, False, True),
        (503, meta(133004, "Server temporarily unavailable"), ServerError, True, False),
        (400, meta(2494100, "Under maintenance"), ServerError, True, False),
        (400, meta(1, "An unknown error occurred"), APIError, False, False),
        (403, gupshup("Forbidden"), AuthenticationError, False, False),
        (401, meta(190, "Invalid OAuth access token"), AuthenticationError, False, False),
    ],
)
def test_codes_are_classified_by_what_they_mean(
    status: int, body: bytes, kind: type[APIError], transient: bool, per_recipient: bool
) -> None:
    error = error_from_response(status, body)
    assert type(error) is kind
    assert error.transient is transient
    assert error.per_recipient is per_recipient
    if error.code is not None:
        assert error.meaning is not None
        assert error.meaning.code == error.code


def test_the_documented_table_is_the_table_the_code_uses() -> None:
    page = (Path(__file__).parent.parent / "docs" / "errors.md").read_text()
    rows = re.findall(
        r"^\| (\d+) \| (Meta|Gupshup) \| (.+?) \| (yes|no) \| (\w+) \| (.+?) \|$", page, re.M
    )
    documented = {
        int(code): (source, meaning, retried == "yes", scope, todo)
        for code, source, meaning, retried, scope, todo in rows
    }
    expected = {c.code: (c.source, c.meaning, c.retried, c.scope, c.todo) for c in CODES.values()}
    assert documented == expected
