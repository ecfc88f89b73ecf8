"""What a campaign counts: every outcome lands in exactly the counts a summary shows."""

from __future__ import annotations

from gupshup_async import ButtonMessage, SendResult
from gupshup_async.errors import (
    AuthenticationError,
    EarlierOutcome,
    NotAttempted,
    ServerError,
    TransportError,
    ValidationError,
)
from gupshup_async.results import BulkStats, Outcome, failure_reason

HELLO = ButtonMessage("Hello", ["OK"])


def failed(error: Exception, attempts: int = 1) -> Outcome:
    assert isinstance(error, (ServerError, TransportError, ValidationError, NotAttempted))
    error.attempts = attempts
    return Outcome("919876543210", HELLO, "k", error=error)


def test_every_kind_of_outcome_is_counted_once_where_a_summary_shows_it() -> None:
    stats = BulkStats()
    sent = SendResult("gs-1", None, "919876543210", attempts=2, ambiguous_attempts=1)
    stats.count(Outcome("919876543210", HELLO, "a", result=sent))
    before = SendResult("gs-0", None, "919876543211", attempts=0)
    stats.count(Outcome("919876543211", HELLO, "b", result=before, skipped=True))
    stats.count(failed(ServerError("busy", status_code=503), attempts=3))
    stats.count(failed(TransportError("reset", ambiguous=True)))
    stats.count(failed(ValidationError.at("to", "must be a phone number"), attempts=0))
    stop = AuthenticationError("Authentication Failed", status_code=401)
    stats.count(failed(NotAttempted(stop), attempts=0))
    stats.count(Outcome("9", HELLO, "c", error=EarlierOutcome("failed", "503"), skipped=True))
    stats.count(Outcome("9", HELLO, "d", error=EarlierOutcome("ambiguous", None), skipped=True))

    assert (stats.done, stats.ok, stats.failed) == (8, 2, 6)
    assert (stats.sent, stats.already_sent, stats.maybe_twice) == (1, 1, 1)
    assert stats.failures == {"ServerError 503": 1, "ValidationError": 1}
    assert (stats.unknown, stats.failed_before, stats.unknown_before) == (1, 1, 1)
    assert (stats.not_attempted, stats.stopped_by) == (1, stop)
    assert stats.requests == 2 + 3 + 1  # attempts of the items not skipped
    assert stats.retried == 1 + 2
    assert stats.examples["ServerError 503"].startswith("919876543210: ")


def test_a_failure_reason_is_the_kind_and_its_status() -> None:
    assert failure_reason(ServerError("busy", status_code=503)) == "ServerError 503"
    assert failure_reason(TransportError("reset", ambiguous=True)) == "TransportError"
