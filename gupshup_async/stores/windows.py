"""Window stores: per recipient, when the user last wrote and when a message to them last
failed with 131047, fed by the webhook receiver, read by the send path.

- `MemoryWindowStore`: one process; the receiver and the client share the object.
- `SqliteWindowStore`: a file shared by processes (a receiver under uvicorn, campaigns in
  their own processes); WAL mode, so readers never wait for the writer.
- `PostgresWindowStore` (`gupshup_async.stores.postgres`): a database shared by hosts.

A store is fed with events (`record`: what `Receiver` does with every callback) or told
directly (`user_wrote`, `window_closed`) by an app that learns of messages another way.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from gupshup_async.errors import WINDOW_CLOSED
from gupshup_async.identities import People, links, moves
from gupshup_async.messages import normalize_recipient
from gupshup_async.stores._sqlite import connect, transaction
from gupshup_async.webhooks import FROM_USER, Event, StatusUpdate
from gupshup_async.window import Window

__all__ = ["MemoryWindowStore", "SqliteWindowStore", "WindowStore"]


@runtime_checkable
class WindowStore(Protocol):
    """Where the client learns whether a recipient's window is open."""

    def window(self, recipient: str) -> Window | Awaitable[Window]:
        """What is known of ``recipient``'s window (normalised as `normalize_recipient` does):
        at once, or a coroutine for a store that asks a database.
        """

    def user_wrote(self, recipient: str, at: float) -> None:
        """``recipient`` wrote to the business at ``at`` (Unix time): the window opens."""

    def window_closed(self, recipient: str, at: float) -> None:
        """A message to ``recipient`` failed with 131047 at ``at``: it is closed."""

    def record(self, events: Iterable[Event]) -> int:
        """Learn from webhook events; how many were about a window."""


def _key(recipient: str) -> str:
    try:
        return normalize_recipient(recipient)
    except ValueError:
        return recipient


def _changes(events: Iterable[Event]) -> list[tuple[str, str, float]]:
    """``(recipient, "wrote" | "closed", when)`` for each event about a window, under each id
    the event names the user by.
    """
    out: list[tuple[str, str, float]] = []
    for event in events:
        if isinstance(event, FROM_USER):
            what = "wrote"
            ids = {event.sender, event.phone, event.user_id, event.parent_user_id}
        elif (
            isinstance(event, StatusUpdate)
            and event.status == "failed"
            and event.error_code == WINDOW_CLOSED
        ):
            what = "closed"
            ids = {event.recipient, event.phone, event.user_id, event.parent_user_id}
        else:
            continue
        when = float(event.timestamp) if event.timestamp is not None else time.time()
        out.extend((one, what, when) for one in ids if one)
    return out


def _later(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _merged(one: Window, other: Window) -> Window:
    """What two windows of one person say together: the latest of each."""
    return Window(
        _later(one.last_inbound, other.last_inbound), _later(one.closed_seen, other.closed_seen)
    )


class MemoryWindowStore:
    """Windows kept in this process: ``MemoryWindowStore()``, given to both the `Receiver`
    (``windows=``) and the `GupshupClient` (``windows=``).
    """

    def __init__(self) -> None:
        self._windows: dict[str, Window] = {}
        self._people = People()

    def __repr__(self) -> str:
        return f"<MemoryWindowStore of {len(self._windows)} recipients>"

    def __len__(self) -> int:
        return len(self._windows)

    def window(self, recipient: str) -> Window:
        key = _key(recipient)
        found = self._windows.get(key) or Window()
        for other in self._people.ids_of(key) - {key}:
            there = self._windows.get(other)
            if there is not None:
                found = _merged(found, there)
        return found

    def user_wrote(self, recipient: str, at: float) -> None:
        key = _key(recipient)
        self._windows[key] = self._windows.get(key, Window()).wrote(at)

    def window_closed(self, recipient: str, at: float) -> None:
        key = _key(recipient)
        self._windows[key] = self._windows.get(key, Window()).failed_closed(at)

    def record(self, events: Iterable[Event]) -> int:
        events = list(events)
        changes = _changes(events)
        for recipient, what, when in changes:
            if what == "wrote":
                self.user_wrote(recipient, when)
            else:
                self.window_closed(recipient, when)
        self._people.learn(events)
        moved = moves(events)
        for old, new in moved:
            window = self._windows.pop(_key(old), None)
            if window is not None:
                self._windows[_key(new)] = _merged(window, self._windows.get(_key(new), Window()))
        return len(changes) + len(moved)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (
    recipient TEXT PRIMARY KEY,
    last_inbound REAL,
    closed_seen REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b)
) WITHOUT ROWID;
"""


class SqliteWindowStore:
    """Windows in a SQLite file that several processes share: ``SqliteWindowStore("w.db")``.

    Reads are one indexed lookup (tens of microseconds), made on the caller's thread; writes
    come in batches from the receiver (`record`), which runs them off the event loop.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection = connect(self.path)
        try:
            self._connection.execute("PRAGMA journal_mode=WAL")
            # NORMAL, not FULL: a power cut may lose the last few records, which the next
            # messages re-teach; every callback waiting for a sync to disk would cost more.
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.executescript(_SCHEMA)
        except sqlite3.DatabaseError as broken:
            self._connection.close()
            raise ValueError(f"{self.path} is not a window store ({broken})") from None

    def __repr__(self) -> str:
        return f"SqliteWindowStore({str(self.path)!r})"

    def close(self) -> None:
        self._connection.close()

    def window(self, recipient: str) -> Window:
        with self._lock:
            row = self._connection.execute(
                "SELECT max(last_inbound), max(closed_seen) FROM windows WHERE recipient = ?1 "
                "OR recipient IN (SELECT b FROM links WHERE a = ?1)",
                (_key(recipient),),
            ).fetchone()
        return Window(row[0], row[1]) if row else Window()

    def user_wrote(self, recipient: str, at: float) -> None:
        self._write([(recipient, "wrote", at)])

    def window_closed(self, recipient: str, at: float) -> None:
        self._write([(recipient, "closed", at)])

    def record(self, events: Iterable[Event]) -> int:
        events = list(events)
        changes = _changes(events)
        if changes:
            self._write(changes)
        linked, moved = links(events), moves(events)
        if linked or moved:
            self._learn_people(linked, moved)
        return len(changes) + len(moved)

    def _learn_people(self, linked: list[tuple[str, str]], moved: list[tuple[str, str]]) -> None:
        """Learn which ids are one person, then move the windows of ids users left."""
        with self._lock, transaction(self._connection) as db:
            pairs = [(_key(a), _key(b)) for a, b in linked]
            db.executemany(
                "INSERT OR IGNORE INTO links (a, b) VALUES (?, ?)",
                [*pairs, *((b, a) for a, b in pairs)],
            )
            for old, new in moved:
                old, new = _key(old), _key(new)
                db.execute(
                    "INSERT OR IGNORE INTO links (a, b) SELECT ?1, b FROM links WHERE a = ?2 "
                    "AND b != ?1",
                    (new, old),
                )
                db.execute(  # links are kept both ways
                    "INSERT OR IGNORE INTO links (a, b) SELECT a, ?1 FROM links WHERE b = ?2 "
                    "AND a != ?1",
                    (new, old),
                )
                db.execute("DELETE FROM links WHERE a = ?1 OR b = ?1", (old,))
                row = db.execute(
                    "SELECT last_inbound, closed_seen FROM windows WHERE recipient = ?", (old,)
                ).fetchone()
                if row is None:
                    continue
                db.execute(
                    "INSERT INTO windows (recipient, last_inbound, closed_seen) "
                    "VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (recipient) DO UPDATE SET "
                    "last_inbound = max(coalesce(last_inbound, ?2), coalesce(?2, last_inbound)), "
                    "closed_seen = max(coalesce(closed_seen, ?3), coalesce(?3, closed_seen))",
                    (new, row[0], row[1]),
                )
                db.execute("DELETE FROM windows WHERE recipient = ?", (old,))

    def _write(self, changes: list[tuple[str, str, float]]) -> None:
        wrote = [(_key(r), when) for r, what, when in changes if what == "wrote"]
        closed = [(_key(r), when) for r, what, when in changes if what == "closed"]
        with self._lock:
            with transaction(self._connection) as db:
                db.executemany(
                    "INSERT INTO windows (recipient, last_inbound) VALUES (?1, ?2) "
                    "ON CONFLICT (recipient) DO UPDATE SET "
                    "last_inbound = max(coalesce(last_inbound, ?2), ?2)",
                    wrote,
                )
                db.executemany(
                    "INSERT INTO windows (recipient, closed_seen) VALUES (?1, ?2) "
                    "ON CONFLICT (recipient) DO UPDATE SET "
                    "closed_seen = max(coalesce(closed_seen, ?2), ?2)",
                    closed,
                )
