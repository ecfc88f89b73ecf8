"""When to retry and how long to wait. Pure: no I/O, no clock, no switches.

The client turns a `RetryPolicy` into a tenacity ``AsyncRetrying`` (client.py); whether waits
are really waited is the shell's business (`gupshup_async.testing` turns them off).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from gupshup_async.errors import GupshupError, ValidationError

__all__ = ["CONFIRM_WITHIN", "RetryPolicy"]

#: Seconds to wait for a status naming an attempt whose answer never came, before retrying it or
#: giving it up. Gupshup answers a send in well under a second and posts its first status
#: (``enqueued``, then Meta's ``sent``) as soon as it has handed the message on; a receiver must
#: answer within 10 s or Gupshup posts again. 10 s covers a slow first post and a commit that
#: waited for a campaign's journal; ``gupshup-async report`` shows a campaign's own status
#: latency, to tune it.
CONFIRM_WITHIN = 10.0


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

    With a status source wired (``GupshupClient(statuses=...)``), an attempt whose answer never
    came first waits up to ``confirm_within`` seconds for a status naming it: one that comes
    ends the send as sent (no retry); without one, the rules above decide.
    """

    max_attempts: int = attrs.field(default=5)
    initial_delay: float = attrs.field(default=0.5, validator=_positive)
    max_delay: float = attrs.field(default=30.0, validator=_positive)
    retry_ambiguous: bool = True
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)
    confirm_within: float = attrs.field(default=CONFIRM_WITHIN, validator=_positive)

    @max_attempts.validator
    def _at_least_one(self, attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"max_attempts must be at least 1, got {value!r}")

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether to try again after ``error`` ended attempt number ``attempt`` (from 1)."""
        return attempt < self.max_attempts and self.retryable(error)

    def retryable(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another attempt, attempts left or not."""
        if not isinstance(error, GupshupError):
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
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            return float(min(asked, self.max_retry_after))
        return self.backoff(attempt, rand)

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Exponential backoff with full jitter: uniform in [0, min(max, initial * 2**(n-1))]."""
        ceiling = min(self.max_delay, self.initial_delay * 2.0 ** min(attempt - 1, 64))
        return ceiling * rand()
