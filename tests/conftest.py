"""Shared test settings.

- Hypothesis: HYPOTHESIS_PROFILE=thorough runs the properties thirty times longer.
- ``@pytest.mark.virtual_time``: the test runs in `VirtualTimeLoop`, where waiting is free.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

import pytest
from hypothesis import HealthCheck, settings

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
