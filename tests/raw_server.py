"""A server on 127.0.0.1 that answers every request with bytes the test chose, as a broken or
hostile server would: the client's HTTP engine, not this, is what is tested.

It reads a request only as far as needed to know it arrived (the end of the head, then the
Content-Length body), so a test can script answers HTTP forbids.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

#: What to write for one request: whole bytes, or pieces with a pause after each.
Script = bytes | Sequence[tuple[bytes, float]]

_GOOD_BODY = b'{"messages":[{"id":"gs-raw-1"}],"contacts":[{"wa_id":"919876543210"}]}'
GOOD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(_GOOD_BODY),
    _GOOD_BODY,
)


class RawServer:
    def __init__(self, answer: Callable[[int], Script], *, close_after: bool) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests = 0
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.requests += 1
                script = self.answer(self.requests)
                if isinstance(script, bytes):
                    writer.write(script)
                    await writer.drain()
                else:
                    for piece, pause in script:
                        writer.write(piece)
                        await writer.drain()
                        await asyncio.sleep(pause)
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_server(
    answer: Script | Callable[[int], Script], *, close_after: bool = False
) -> AsyncIterator[RawServer]:
    """Serve ``answer`` (or ``answer(n)`` for the n-th request, from 1) until the block ends."""
    server = RawServer(answer if callable(answer) else lambda _: answer, close_after=close_after)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listener.close()
        # Connections a test left hanging end with the server (3.12 waits for them).
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(listener.wait_closed(), 1.0)
