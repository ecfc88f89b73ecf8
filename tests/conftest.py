"""Shared test settings.

- Hypothesis: HYPOTHESIS_PROFILE=thorough runs the properties thirty times longer.
- ``@pytest.mark.virtual_time``: the test runs in `VirtualTimeLoop`, where waiting is free.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from gupshup_async import Journal, Window
from gupshup_async.stores import (
    DeliveryRecorder,
    DeliveryReport,
    WindowStore,
    open_delivery_store,
    open_window_store,
    read_report,
)
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.redis_server import redis_server_fixture  # noqa: F401  (a fixture: redis_server)
from tests.virtual_time import VirtualTimeLoop

pytest_plugins = ["gupshup_async.testing"]  # the gupshup_mock fixture, as users get it

settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "virtual_time: run in an event loop whose clock skips every wait"
    )


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.get_closest_marker("virtual_time") is not None:
        return {"virtual_time": VirtualTimeLoop}
    return {"asyncio": asyncio.new_event_loop}


class Records:
    """Where a test's records go, on one engine: ``where`` (a journal file's path, or a fresh
    database's URL), and the records there, made as users make them.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.engine = "postgres" if where.startswith("postgresql://") else "sqlite"

    def journal(self, **options: Any) -> Journal:
        return Journal(self.where, name="campaign", **options)

    def store(self) -> DeliveryRecorder:
        return open_delivery_store(self.where)

    def windows(self) -> WindowStore:
        place = self.where if self.engine == "postgres" else self.where + ".windows.db"
        return open_window_store(place)

    def report(self) -> DeliveryReport:
        return read_report(self.where, "campaign")


@pytest.fixture(params=["sqlite", "postgres"])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Records:
    """The test runs twice: with its records in SQLite files, then in PostgreSQL."""
    if request.param == "sqlite":
        return Records(str(tmp_path / "campaign.db"))
    server = request.getfixturevalue("postgres_server")
    return Records(server.new_database())


async def window_of(store: WindowStore, recipient: str) -> Window:
    """A store's window, whether it answers at once (memory, a file) or as a coroutine (a
    database), as the client takes it.
    """
    found = store.window(recipient)
    return await found if inspect.isawaitable(found) else found
