"""Servers the tests run on 127.0.0.1: an ASGI application under uvicorn, the sandbox process."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
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


@contextlib.contextmanager
def sandbox_process(*options: str) -> Iterator[str]:
    """The sandbox as its own process (``gupshup-async sandbox``): its base URL, until the block
    ends. ``options`` go to the command (``"--rate", "210"``).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "gupshup_async", "sandbox", "--port", "0", *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line
        yield found.group(0)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
