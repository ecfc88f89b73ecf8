"""The one SQLite helper the stores share: a transaction always ends, and takes the lock now."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gupshup_async.stores._sqlite import connect, transaction


def test_a_failed_transaction_is_rolled_back_and_the_connection_stays_usable(
    tmp_path: Path,
) -> None:
    db = connect(tmp_path / "x.db")
    db.execute("CREATE TABLE t (n INTEGER)")

    def half_done() -> None:
        with transaction(db):
            db.execute("INSERT INTO t VALUES (1)")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        half_done()
    with transaction(db):
        db.execute("INSERT INTO t VALUES (2)")
    assert db.execute("SELECT n FROM t").fetchall() == [(2,)]
    db.close()


def test_a_transaction_takes_the_write_lock_at_once(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    first = connect(path)
    first.execute("CREATE TABLE t (n INTEGER)")
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    with transaction(first):
        # Another connection cannot start writing while the first holds the transaction,
        # even before the first has written anything.
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    first.close()
    other.close()
