"""When to retry and how long to wait. Pure: no I/O, no clock of its own."""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable

import attrs

from gupshup_async.errors import GupshupError, ValidationError

__all__ = ["RetryPolicy", "parse_retry_after"]

#: False while `gupshup_async.testing.no_waiting` is active: retries then do not wait.
WAITING = True


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """Which failed sends are tried again, how often, and how long to wait between tries.

    Retried: failures that left the message unsent (connection refused, pool timeout, 429,
    503, a Meta throughput error) and, when ``retry_ambiguous``, failures after which the
    message may have gone out (read timeout, 500, 502, 504, a connection dropped while waiting
    for the answer). ``RetryPolicy(retry_ambiguous=False)`` gives at-most-once delivery.
    Never retried: validation, authentication, billing and app errors, and other 4xx.

    Waits honour the server's ``Retry-After`` up to ``max_retry_after`` seconds (a longer one
    fails at once, saying the wait); otherwise exponential backoff from ``initial_delay`` up
    to ``max_delay``, with full jitter.
    """

    max_attempts: int = attrs.field(default=5)
    initial_delay: float = attrs.field(default=0.5, validator=_positive)
    max_delay: float = attrs.field(default=30.0, validator=_positive)
    retry_ambiguous: bool = True
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)

    @max_attempts.validator
    def _at_least_one(self, attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"max_attempts must be at least 1, got {value!r}")

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether to try again after ``error`` ended attempt number ``attempt`` (from 1)."""
        if attempt >= self.max_attempts or not isinstance(error, GupshupError):
            return False
        if isinstance(error, ValidationError) or not error.transient:
            return False
        if error.ambiguous and not self.retry_ambiguous:
            return False
        return not self.retry_after_too_long(error)

    def retry_after_too_long(self, error: GupshupError) -> bool:
        wait = getattr(error, "retry_after", None)
        return wait is not None and wait > self.max_retry_after

    def wait(
        self,
        error: BaseException,
        attempt: int,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait after attempt number ``attempt`` failed with ``error``."""
        if not WAITING:
            return 0.0
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            return float(min(asked, self.max_retry_after))
        return self.backoff(attempt, rand)

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Exponential backoff with full jitter: uniform in [0, min(max, initial * 2**(n-1))]."""
        ceiling = min(self.max_delay, self.initial_delay * 2.0 ** min(attempt - 1, 64))
        return ceiling * rand()


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
