"""The records the library keeps: a campaign's journal, what the statuses said of its messages,
and the users' 24-hour windows. SQLite files, the embedded default, or a PostgreSQL database for
many hosts (``pip install 'gupshup-async[postgres]'``), behind one protocol per record; a
``postgresql://`` URL where a path goes chooses the database.
"""

from gupshup_async.stores._choice import (
    open_delivery_store,
    open_status_source,
    open_window_store,
    read_report,
)
from gupshup_async.stores._sqlite import FORMAT
from gupshup_async.stores.deliveries import (
    Delivery,
    DeliveryRecorder,
    DeliveryReport,
    DeliveryStore,
)
from gupshup_async.stores.journal import Journal, JournalStore, Recorded, Uncertain
from gupshup_async.stores.postgres import (
    PostgresDeliveryStore,
    PostgresStatuses,
    PostgresWindowStore,
)
from gupshup_async.stores.statuses import (
    UNCONFIRMED_AFTER,
    JournalStatuses,
    MemoryStatuses,
    Seen,
    StatusReader,
    StatusSource,
)
from gupshup_async.stores.windows import MemoryWindowStore, SqliteWindowStore, WindowStore

__all__ = [
    "FORMAT",
    "UNCONFIRMED_AFTER",
    "Delivery",
    "DeliveryRecorder",
    "DeliveryReport",
    "DeliveryStore",
    "Journal",
    "JournalStatuses",
    "JournalStore",
    "MemoryStatuses",
    "MemoryWindowStore",
    "PostgresDeliveryStore",
    "PostgresStatuses",
    "PostgresWindowStore",
    "Recorded",
    "Seen",
    "SqliteWindowStore",
    "StatusReader",
    "StatusSource",
    "Uncertain",
    "WindowStore",
    "open_delivery_store",
    "open_status_source",
    "open_window_store",
    "read_report",
]
