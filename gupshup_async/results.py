"""The values a send and a campaign produce. Pure: no I/O, nothing from the shell.

Every layer above speaks in these: the client returns a `SendResult`, a campaign yields one
`Outcome` per item and keeps `BulkStats`, the journal reads and writes them. Keeping them at
the bottom is what lets bulk.py, the stores and client.py import each other in one direction.
"""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING

import attrs

from gupshup_async.errors import EarlierOutcome, GupshupError, NotAttempted

if TYPE_CHECKING:
    from gupshup_async.messages import Message

__all__ = ["BulkStats", "Outcome", "SendResult", "failure_reason"]


@attrs.frozen
class SendResult:
    """An accepted message: Gupshup's ``message_id``, the recipient's WhatsApp id, the number it
    was sent to, and how many attempts it took.

    ``ambiguous_attempts`` counts the attempts that failed in a way that may have delivered the
    message all the same. With a status source (see "Uncertain attempts" in the docs), a status
    settles them: ``confirmed`` when a status, not an answer, showed the message accepted (its
    answer never came), and ``duplicates`` counts the other attempts that statuses showed
    accepted too (the recipient has the message that many times more). Without one, when
    ``ambiguous_attempts`` is not 0 the recipient may have it twice.
    """

    message_id: str
    wa_id: str | None
    to: str
    attempts: int = 1
    ambiguous_attempts: int = 0
    #: The recipient's business-scoped user id, when the answer gives one.
    user_id: str | None = None
    #: The message sent in place of the one given: the template a `WindowPolicy` chose
    #: because the recipient's 24-hour window was not open.
    sent_instead: Message | None = attrs.field(default=None, eq=False, repr=False)
    #: The tag this message's statuses carry (``biz_opaque_callback_data``): the one given, or
    #: the library's own (`gupshup_async.tags`) when it tags sends.
    callback_data: str | None = attrs.field(default=None, kw_only=True)
    #: Accepted as a status showed, after an attempt whose answer never came: no retry was made.
    confirmed: bool = attrs.field(default=False, kw_only=True)
    #: Other attempts of this send that statuses showed accepted as well, known when it ended
    #: (a status that comes later is counted in the campaign's report).
    duplicates: int = attrs.field(default=0, kw_only=True)
    #: Meta's id of the message (wamid), when a status told it.
    wamid: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class Outcome:
    """What became of one item. Exactly one per item, in the order they finish."""

    to: str
    message: Message | None
    key: str
    result: SendResult | None = None
    error: GupshupError | None = None
    #: True when nothing was sent now because the journal says it was dealt with before.
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def attempts(self) -> int:
        if self.result is not None:
            return self.result.attempts
        return self.error.attempts if self.error is not None else 0


def failure_reason(error: GupshupError) -> str:
    """How failures are grouped in a summary: the error's kind, and its HTTP status."""
    status = getattr(error, "status_code", None)
    return type(error).__name__ if status is None else f"{type(error).__name__} {status}"


@attrs.define
class BulkStats:
    """A run's counts, kept as each outcome is made: for a progress bar, a summary, an exit
    code. Every count is of items, but ``requests`` and ``retried``.
    """

    started: float = attrs.field(factory=time.monotonic)
    done: int = 0
    ok: int = 0  # sent now or in an earlier run
    failed: int = 0  # every item not ok, for whatever reason
    skipped: int = 0  # dealt with in an earlier run, per the journal: not sent now
    already_sent: int = 0  # of those, the ones that were sent
    retried: int = 0  # attempts beyond the first, over all items
    ambiguous: int = 0  # items that may have been delivered more than once, or not known
    #: Requests this run made (items skipped from earlier runs made none).
    requests: int = 0
    #: Sent now; of those, sent after an attempt that may have delivered it (maybe twice),
    #: and sent as the template a window policy chose.
    sent: int = 0
    maybe_twice: int = 0
    as_template: int = 0
    #: Failed now and for good, by `failure_reason`, with one example each.
    failures: collections.Counter[str] = attrs.Factory(collections.Counter)
    examples: dict[str, str] = attrs.Factory(dict)
    #: Failed without knowing whether it was delivered.
    unknown: int = 0
    #: Items with an attempt whose answer never came, settled by a status: sent (now, or by an
    #: earlier run that stopped before it knew). Items whose uncertain attempt no status named
    #: within the wait (``confirm_within``, or a journal's ``unconfirmed_after``).
    #: Items that statuses showed sent more than once.
    confirmed: int = 0
    unconfirmed: int = 0
    duplicated: int = 0
    #: Recorded by an earlier run as failed, or as in flight when it stopped: not sent now.
    failed_before: int = 0
    unknown_before: int = 0
    #: Never attempted, because the run stopped: and the error that stopped it.
    not_attempted: int = 0
    stopped_by: GupshupError | None = None

    #: When the run ended (its last outcome given, or stopped): the rate stops there.
    ended: float | None = None

    @property
    def rate(self) -> float:
        """Requests made a second, from the start to now, or to the run's end."""
        until = self.ended if self.ended is not None else time.monotonic()
        return self.requests / max(until - self.started, 1e-9)

    def count(self, outcome: Outcome) -> None:
        self.done += 1
        error, result = outcome.error, outcome.result
        if outcome.skipped:
            self.skipped += 1
            self.already_sent += outcome.ok
        else:
            self.requests += outcome.attempts
        if outcome.ok:
            self.ok += 1
        else:
            self.failed += 1
        self.retried += max(outcome.attempts - 1, 0)
        # A status that confirmed an uncertain attempt settled it: neither unknown nor twice.
        maybe_twice = (
            result is not None
            and bool(result.ambiguous_attempts)
            and not (result.confirmed and not result.duplicates)
        )
        if (error is not None and error.ambiguous) or maybe_twice:
            self.ambiguous += 1
        if result is not None:
            self.confirmed += result.confirmed
            self.duplicated += bool(result.duplicates)
        if error is not None and (
            error.unconfirmed
            or (isinstance(error, EarlierOutcome) and error.state == "unconfirmed")
        ):
            self.unconfirmed += 1
        if error is None:
            if not outcome.skipped:
                self.sent += 1
                assert result is not None
                self.maybe_twice += maybe_twice
                self.as_template += result.sent_instead is not None
        elif isinstance(error, EarlierOutcome):
            if error.ambiguous:
                self.unknown_before += 1
            else:
                self.failed_before += 1
        elif isinstance(error, NotAttempted):
            self.not_attempted += 1
            self.stopped_by = error.cause
        elif error.ambiguous or error.ambiguous_attempts:
            self.unknown += 1
            self.examples.setdefault("unknown", f"{outcome.to}: {error}")
        else:
            reason = failure_reason(error)
            self.failures[reason] += 1
            self.examples.setdefault(reason, f"{outcome.to or outcome.key}: {error}")
