"""The records the library keeps: a campaign's journal, what the statuses said of its messages,
and the users' 24-hour windows. SQLite files, the embedded default.
"""

from gupshup_async.stores._sqlite import FORMAT
from gupshup_async.stores.deliveries import Delivery, DeliveryReport, DeliveryStore
from gupshup_async.stores.journal import Journal, Recorded, Uncertain
from gupshup_async.stores.statuses import (
    UNCONFIRMED_AFTER,
    JournalStatuses,
    MemoryStatuses,
    Seen,
    StatusSource,
)
from gupshup_async.stores.windows import MemoryWindowStore, SqliteWindowStore, WindowStore

__all__ = [
    "FORMAT",
    "UNCONFIRMED_AFTER",
    "Delivery",
    "DeliveryReport",
    "DeliveryStore",
    "Journal",
    "JournalStatuses",
    "MemoryStatuses",
    "MemoryWindowStore",
    "Recorded",
    "Seen",
    "SqliteWindowStore",
    "StatusSource",
    "Uncertain",
    "WindowStore",
]
