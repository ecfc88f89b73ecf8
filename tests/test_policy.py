"""Retry decisions and waits, without any clock."""

from __future__ import annotations

import email.utils

import pytest

from gupshup_async import (
    AuthenticationError,
    BillingNotEnabledError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
)
from gupshup_async.answers import error_from_response, parse_retry_after

POLICY = RetryPolicy()


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (TransportError("connect", ambiguous=False), True),
        (TransportError("read timeout", ambiguous=True), True),
        (error_from_response(429, b""), True),
        (error_from_response(503, b""), True),
        (error_from_response(500, b""), True),
        (error_from_response(400, b""), False),
        (error_from_response(401, b""), False),
        (error_from_response(403, b""), False),
        (error_from_response(404, b""), False),
        (error_from_response(400, b'{"message": "Callback Billing must be enabled"}'), False),
        (ValidationError.at("to", "bad"), False),
        (RuntimeError("not ours"), False),
    ],
)
def test_what_is_retried(error: BaseException, retried: bool) -> None:
    assert POLICY.should_retry(error, attempt=1) is retried


def test_ambiguous_failures_are_not_retried_for_at_most_once() -> None:
    at_most_once = RetryPolicy(retry_ambiguous=False)
    assert not at_most_once.should_retry(error_from_response(500, b""), 1)
    assert not at_most_once.should_retry(TransportError("read", ambiguous=True), 1)
    assert at_most_once.should_retry(error_from_response(503, b""), 1)
    assert at_most_once.should_retry(TransportError("connect", ambiguous=False), 1)


def test_attempts_are_bounded() -> None:
    error = error_from_response(503, b"")
    policy = RetryPolicy(max_attempts=3)
    assert [policy.should_retry(error, n) for n in (1, 2, 3)] == [True, True, False]
    assert not RetryPolicy(max_attempts=1).should_retry(error, 1)


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    assert POLICY.wait(error_from_response(429, b"", retry_after=7.0), 1) == 7.0
    too_long = error_from_response(429, b"", retry_after=61.0)
    assert not POLICY.should_retry(too_long, 1)
    assert RetryPolicy(max_retry_after=120).should_retry(too_long, 1)


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=4.0)
    assert [policy.backoff(n, rand=lambda: 1.0) for n in range(1, 6)] == [0.5, 1, 2, 4, 4]
    assert policy.backoff(3, rand=lambda: 0.0) == 0.0
    assert policy.backoff(3, rand=lambda: 0.25) == 0.5
    assert policy.backoff(10_000, rand=lambda: 1.0) == 4.0


def test_waits_without_retry_after_use_backoff() -> None:
    policy = RetryPolicy(initial_delay=1.0)
    assert policy.wait(error_from_response(503, b""), 2, rand=lambda: 0.5) == 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_attempts", 0), ("initial_delay", -1.0), ("max_delay", -0.1), ("max_retry_after", -5)],
)
def test_bad_knobs_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("5", now) == 5.0
    assert parse_retry_after(" 2.5 ", now) == 2.5
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    for unreadable in (None, "", "soon", "-3", "Wed, 99 Foo 2025", "1e999"):
        assert parse_retry_after(unreadable, now) is None


def test_error_kinds_are_not_retried_by_type() -> None:
    assert not POLICY.should_retry(AuthenticationError("x", status_code=401), 1)
    assert not POLICY.should_retry(BillingNotEnabledError("x", status_code=400), 1)
    assert POLICY.should_retry(RateLimitError("x", status_code=429), 1)
    assert POLICY.should_retry(ServerError("x", status_code=503), 1)
