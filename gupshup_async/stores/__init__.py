"""The records the library keeps: a campaign's journal, what the statuses said of its messages,
and the users' 24-hour windows. SQLite files, the embedded default.
"""

from gupshup_async.stores._sqlite import FORMAT
from gupshup_async.stores.deliveries import Delivery, DeliveryReport, DeliveryStore
from gupshup_async.stores.journal import Journal, Recorded
from gupshup_async.stores.windows import MemoryWindowStore, SqliteWindowStore, WindowStore

__all__ = [
    "FORMAT",
    "Delivery",
    "DeliveryReport",
    "DeliveryStore",
    "Journal",
    "MemoryWindowStore",
    "Recorded",
    "SqliteWindowStore",
    "WindowStore",
]
