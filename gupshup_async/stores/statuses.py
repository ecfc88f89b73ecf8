"""Status sources: where the client looks for the statuses that name a request's tag.

An attempt whose answer never came may have gone out. Its status webhooks say so, naming the
attempt by its tag (`gupshup_async.tags`), and a `Receiver` stores them. A `StatusSource` is
anything that can answer "which of these tags has a status?": the journal file a receiver writes
(`JournalStatuses`, from this process or another on the host), a database receivers on many
hosts write (`PostgresStatuses`), or the statuses a receiver in this process hands to its
handlers (`MemoryStatuses`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import attrs

from gupshup_async.errors import JournalError
from gupshup_async.results import SendResult
from gupshup_async.webhooks import Event, StatusUpdate

__all__ = [
    "UNCONFIRMED_AFTER",
    "JournalStatuses",
    "MemoryStatuses",
    "Seen",
    "StatusReader",
    "StatusSource",
    "seen_in",
]

#: Seconds after an item's last attempt before a resumed campaign calls it "unconfirmed" when no
#: status named it: far beyond the seconds statuses take, so that a receiver restarted meanwhile
#: (Gupshup sends again what was not acknowledged) has delivered what was owed.
UNCONFIRMED_AFTER = 600.0

# SQLite before 3.32 allows 999 parameters in one statement.
_CHUNK = 500


@attrs.frozen
class Seen:
    """What a status source knows of one tagged attempt: it reached Gupshup."""

    tag: str
    #: Gupshup's id of the message (Meta's, when the status did not carry Gupshup's).
    message_id: str
    wamid: str | None
    recipient: str | None
    status: str

    def result(self, to: str, *, attempts: int, ambiguous: int = 0) -> SendResult:
        """The send's result, as this status shows it (``confirmed``)."""
        return SendResult(
            self.message_id,
            self.recipient or None,
            to,
            attempts,
            ambiguous,
            callback_data=self.tag,
            confirmed=True,
            wamid=self.wamid,
        )


class StatusSource(Protocol):
    """Where to look for the statuses of tagged attempts."""

    async def seen(self, tags: Sequence[str]) -> list[Seen]:
        """What is known of any of ``tags``: one `Seen` per tag that has a status (or an
        accepted answer), in no particular order.
        """


class StatusReader(StatusSource, Protocol):
    """A status source that holds a connection, closed when its reader is done."""

    def close(self) -> None: ...


def seen_in(db: sqlite3.Connection, tags: Sequence[str]) -> list[Seen]:
    """The rows of a journal's deliveries table that name any of ``tags``."""
    found: list[Seen] = []
    for start in range(0, len(tags), _CHUNK):
        chunk = tags[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT tag, gs_id, wamid, recipient, status FROM deliveries WHERE tag IN ({marks})",
            chunk,
        )
        found.extend(Seen(*row) for row in rows)
    return found


class JournalStatuses:
    """The statuses a `Receiver` stores in a journal file (``Receiver(store=path)``,
    ``gupshup-async receive --journal``), read from this process or any other on the host. The
    file is read only, never created nor changed; queries run in a thread of their own.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "gupshup-statuses")

    def __repr__(self) -> str:
        return f"JournalStatuses({str(self.path)!r})"

    async def seen(self, tags: Sequence[str]) -> list[Seen]:
        if not tags:
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._seen, list(tags))

    def _seen(self, tags: list[str]) -> list[Seen]:
        if self._db is None:
            if not self.path.is_file():
                return []  # no receiver has written anything yet
            self._db = _reader(self.path)
        try:
            return seen_in(self._db, tags)
        except sqlite3.OperationalError as cause:
            if "no such column" in str(cause) or "no such table" in str(cause):
                return []  # a journal not yet made or upgraded by a run or a receiver
            raise JournalError(f"{self.path}: cannot read its statuses ({cause})") from None

    def close(self) -> None:
        if self._db is not None:
            self._thread.submit(self._db.close).result()
            self._db = None
        self._thread.shutdown(wait=True)


def _reader(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
    except sqlite3.Error as refused:
        raise JournalError(f"{path}: cannot open it ({refused})") from None


class MemoryStatuses:
    """The statuses of tagged sends seen by a `Receiver` in this process: pass ``record`` as
    one of its handlers (``Receiver(secret, handlers=[statuses.record])``). Keeps the latest
    ``limit`` tags. For a campaign that must resume after a crash, store statuses in its
    journal instead (`JournalStatuses`).
    """

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        self._seen: collections.OrderedDict[str, Seen] = collections.OrderedDict()

    def __repr__(self) -> str:
        return f"<MemoryStatuses tags={len(self._seen)}>"

    def record(self, event: Event) -> None:
        """Keep what a status says of its tagged attempt (other events are ignored)."""
        if not isinstance(event, StatusUpdate) or not event.callback_data:
            return
        message_id = event.gs_id or event.message_id
        if not message_id:
            return
        tag = event.callback_data
        known = self._seen.get(tag)
        if known is not None:
            # The first status names the message; Gupshup's id may come with a later one.
            message_id = known.message_id if known.message_id != known.wamid else message_id
        self._seen[tag] = Seen(tag, message_id, event.message_id, event.recipient, event.status)
        self._seen.move_to_end(tag)
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    async def seen(self, tags: Sequence[str]) -> list[Seen]:
        found = self._seen
        return [found[tag] for tag in tags if tag in found]
