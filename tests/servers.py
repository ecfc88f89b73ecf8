"""Serving an ASGI application under uvicorn, on a free port of 127.0.0.1, for one test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn


@contextlib.asynccontextmanager
async def under_uvicorn(app: Any, path: str = "") -> AsyncIterator[str]:
    """The base URL (and ``path``) of ``app`` served by uvicorn until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        server.should_exit = True
        await task


async def until(done: Callable[[], bool], seconds: float = 15) -> None:
    """Wait until ``done()``: what is awaited is another server's doing."""

    async def poll() -> None:
        while not done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), seconds)
