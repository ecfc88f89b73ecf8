"""The HTTP client the library makes when it is given none, and the switches tests set.

One place decides both, so the message client and the token providers always agree: by
default an ``httpx.AsyncClient`` on aiohttp's transport (httpx-aiohttp's client, which also
routes proxies from the environment through aiohttp); inside `gupshup_async.testing`'s mock,
an ``httpx.AsyncClient`` on the mock's transport, and retries that do not wait.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
from collections.abc import Iterator

import attrs
import httpx
from httpx_aiohttp import HttpxAiohttpClient

__all__ = ["TestSettings", "make_http_client", "overridden", "waits"]


@attrs.frozen
class TestSettings:
    """What `gupshup_async.testing` asks of the clients made while it is active."""

    #: Every client made here sends through this transport (a mock), not the network.
    transport: httpx.AsyncBaseTransport | None = None
    #: Whether retries really wait their backoff and Retry-After.
    wait: bool = True


_SETTINGS: contextvars.ContextVar[TestSettings | None] = contextvars.ContextVar(
    "gupshup_async_test_settings", default=None
)


@contextlib.contextmanager
def overridden(
    *, transport: httpx.AsyncBaseTransport | None = None, wait: bool | None = None
) -> Iterator[None]:
    """Change the settings for the block (and the tasks it starts), keeping what is not
    named from the block around it; then restore.
    """
    settings = _SETTINGS.get() or TestSettings()
    if transport is not None:
        settings = attrs.evolve(settings, transport=transport)
    if wait is not None:
        settings = attrs.evolve(settings, wait=wait)
    reset = _SETTINGS.set(settings)
    try:
        yield
    finally:
        _SETTINGS.reset(reset)


def waits() -> bool:
    settings = _SETTINGS.get()
    return settings is None or settings.wait


def make_http_client(
    *,
    timeout: httpx.Timeout,
    max_connections: int = 100,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """A new client on the engine in force: aiohttp's transport, or the test's mock."""
    settings = _SETTINGS.get()
    if settings is not None and settings.transport is not None:
        return httpx.AsyncClient(transport=settings.transport, timeout=timeout)
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=None)
    return HttpxAiohttpClient(timeout=timeout, limits=limits, verify=verify)
