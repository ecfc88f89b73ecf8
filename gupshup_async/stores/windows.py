"""Window stores: per recipient, when the user last wrote and when a message to them last
failed with 131047, fed by the webhook receiver, read by the send path.

- `MemoryWindowStore`: one process; the receiver and the client share the object.
- `SqliteWindowStore`: a file shared by processes (a receiver under uvicorn, campaigns in
  their own processes); WAL mode, so readers never wait for the writer.

A store is fed with events (`record`: what `Receiver` does with every callback) or told
directly (`user_wrote`, `window_closed`) by an app that learns of messages another way.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from gupshup_async.errors import WINDOW_CLOSED
from gupshup_async.messages import normalize_recipient
from gupshup_async.stores._sqlite import connect, transaction
from gupshup_async.webhooks import FROM_USER, Event, StatusUpdate, SystemNotice
from gupshup_async.window import Window

__all__ = ["MemoryWindowStore", "SqliteWindowStore", "WindowStore"]


@runtime_checkable
class WindowStore(Protocol):
    """Where the client learns whether a recipient's window is open."""

    def window(self, recipient: str) -> Window:
        """What is known of ``recipient``'s window (normalised as `normalize_recipient` does)."""

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
    """``(recipient, "wrote" | "closed", when)`` for each event about a window."""
    out: list[tuple[str, str, float]] = []
    for event in events:
        if isinstance(event, FROM_USER):
            when = float(event.timestamp) if event.timestamp is not None else time.time()
            out.append((event.sender, "wrote", when))
            if event.user_id and event.user_id != event.sender:
                out.append((event.user_id, "wrote", when))
        elif (
            isinstance(event, StatusUpdate)
            and event.status == "failed"
            and event.error_code == WINDOW_CLOSED
            and event.recipient
        ):
            when = float(event.timestamp) if event.timestamp is not None else time.time()
            out.append((event.recipient, "closed", when))
    return out


def _moves(events: Iterable[Event]) -> list[tuple[str, str]]:
    """``(old, new)`` for each user who changed number: their window goes with them."""
    return [
        (event.sender, event.new_wa_id)
        for event in events
        if isinstance(event, SystemNotice)
        and event.kind == "user_changed_number"
        and event.new_wa_id
    ]


def _later(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


class MemoryWindowStore:
    """Windows kept in this process: ``MemoryWindowStore()``, given to both the `Receiver`
    (``windows=``) and the `GupshupClient` (``windows=``).
    """

    def __init__(self) -> None:
        self._windows: dict[str, Window] = {}

    def __repr__(self) -> str:
        return f"<MemoryWindowStore of {len(self._windows)} recipients>"

    def __len__(self) -> int:
        return len(self._windows)

    def window(self, recipient: str) -> Window:
        return self._windows.get(_key(recipient)) or Window()

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
        moves = _moves(events)
        for old, new in moves:
            moved = self._windows.pop(_key(old), None)
            if moved is not None:
                there = self._windows.get(_key(new), Window())
                self._windows[_key(new)] = Window(
                    _later(moved.last_inbound, there.last_inbound),
                    _later(moved.closed_seen, there.closed_seen),
                )
        return len(changes) + len(moves)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (
    recipient TEXT PRIMARY KEY,
    last_inbound REAL,
    closed_seen REAL
) WITHOUT ROWID
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
            self._connection.execute(_SCHEMA)
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
                "SELECT last_inbound, closed_seen FROM windows WHERE recipient = ?",
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
        moves = _moves(events)
        if moves:
            self._move(moves)
        return len(changes) + len(moves)

    def _move(self, moves: list[tuple[str, str]]) -> None:
        with self._lock, transaction(self._connection) as db:
            for old, new in moves:
                row = db.execute(
                    "SELECT last_inbound, closed_seen FROM windows WHERE recipient = ?",
                    (_key(old),),
                ).fetchone()
                if row is None:
                    continue
                db.execute(
                    "INSERT INTO windows (recipient, last_inbound, closed_seen) "
                    "VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (recipient) DO UPDATE SET "
                    "last_inbound = max(coalesce(last_inbound, ?2), coalesce(?2, last_inbound)), "
                    "closed_seen = max(coalesce(closed_seen, ?3), coalesce(?3, closed_seen))",
                    (_key(new), row[0], row[1]),
                )
                db.execute("DELETE FROM windows WHERE recipient = ?", (_key(old),))

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
