"""The values a send and a campaign produce. Pure: no I/O, nothing from the shell.

Every layer above speaks in these: the client returns a `SendResult`, a campaign yields one
`Outcome` per item and keeps `BulkStats`, the journal reads and writes them. Keeping them at
the bottom is what lets bulk.py, the stores and client.py import each other in one direction.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import attrs

from gupshup_async.errors import GupshupError

if TYPE_CHECKING:
    from gupshup_async.messages import Message

__all__ = ["BulkStats", "Outcome", "SendResult"]


@attrs.frozen
class SendResult:
    """An accepted message: Gupshup's ``message_id``, the recipient's WhatsApp id, the number it
    was sent to, and how many attempts it took.

    ``ambiguous_attempts`` counts the attempts before the last that failed in a way that may
    have delivered the message all the same: when it is not 0, the recipient may have it twice.
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


@attrs.define
class BulkStats:
    """Live counts of a run, for a progress bar."""

    started: float = attrs.field(factory=time.monotonic)
    done: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # dealt with in an earlier run, per the journal: not sent now
    already_sent: int = 0  # of those, the ones that were sent
    retried: int = 0  # attempts beyond the first, over all items
    ambiguous: int = 0  # items that may have been delivered more than once, or not known

    @property
    def rate(self) -> float:
        """Items finished per second so far."""
        return self.done / max(time.monotonic() - self.started, 1e-9)

    def count(self, outcome: Outcome) -> None:
        self.done += 1
        if outcome.skipped:
            self.skipped += 1
            self.already_sent += outcome.ok
        if outcome.ok:
            self.ok += 1
        else:
            self.failed += 1
        self.retried += max(outcome.attempts - 1, 0)
        error = outcome.error
        result = outcome.result
        if (error is not None and error.ambiguous) or (
            result is not None and result.ambiguous_attempts
        ):
            self.ambiguous += 1
