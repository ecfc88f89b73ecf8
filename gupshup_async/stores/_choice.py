"""Which engine keeps a record: a ``postgresql://`` URL names a database, anything else a file."""

from __future__ import annotations

import os

from gupshup_async.stores._postgres import is_database
from gupshup_async.stores.deliveries import DeliveryRecorder, DeliveryReport, DeliveryStore
from gupshup_async.stores.statuses import JournalStatuses, StatusReader
from gupshup_async.stores.windows import SqliteWindowStore, WindowStore

__all__ = ["open_delivery_store", "open_status_source", "open_window_store", "read_report"]


def open_delivery_store(
    where: str | os.PathLike[str], *, timeout: float = 30.0
) -> DeliveryRecorder:
    """The delivery store at ``where``: a journal file (`DeliveryStore`) or a database
    (`PostgresDeliveryStore`). Raises `JournalError` when it cannot be opened.
    """
    if is_database(where):
        from gupshup_async.stores.postgres import PostgresDeliveryStore

        return PostgresDeliveryStore(str(where), timeout=timeout)
    return DeliveryStore(where, timeout=timeout)


def open_window_store(where: str | os.PathLike[str]) -> WindowStore:
    """The window store at ``where``: a file (`SqliteWindowStore`) or a database
    (`PostgresWindowStore`).
    """
    if is_database(where):
        from gupshup_async.stores.postgres import PostgresWindowStore

        return PostgresWindowStore(str(where))
    return SqliteWindowStore(where)


def open_status_source(where: str | os.PathLike[str]) -> StatusReader:
    """Where a campaign reads the statuses receivers record: a journal file
    (`JournalStatuses`) or a database (`PostgresStatuses`).
    """
    if is_database(where):
        from gupshup_async.stores.postgres import PostgresStatuses

        return PostgresStatuses(str(where))
    return JournalStatuses(where)


def read_report(where: str | os.PathLike[str], name: str | None = None) -> DeliveryReport:
    """How a campaign fared, read without writing: the journal file at ``where``, or the
    campaign ``name`` (all its shards) in the database ``where`` names. Raises `JournalError`.
    """
    if is_database(where):
        from gupshup_async.stores.postgres import PostgresDeliveryStore

        if name is None:
            raise ValueError("a database holds many campaigns: give the campaign's name")
        return PostgresDeliveryStore.read_report(str(where), name)
    return DeliveryStore.read_report(where)
