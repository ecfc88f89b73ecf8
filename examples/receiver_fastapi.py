"""A Gupshup webhook receiver under FastAPI: checks the shared secret, answers at once, drops
repeated callbacks, and hands typed events to your code in the background.

    export GUPSHUP_HOOK_SECRET=...   # the same value as a header in the subscription's "meta"
    uvicorn --factory examples.receiver_fastapi:from_env --port 8000

Register ``https://your-host/hooks/gupshup`` as the app's version-3 subscription URL, with
``{"X-Hook-Secret": "<the secret>"}`` in its ``meta`` (see docs/quickstart.md).
"""

from __future__ import annotations

import collections
import hmac
import os
import time
from collections.abc import Awaitable, Callable

from fastapi import BackgroundTasks, FastAPI, Request, Response

from gupshup_async import Event, WebhookError, parse_events

Handler = Callable[[list[Event]], Awaitable[None]]
SECRET_HEADER = "x-hook-secret"
MAX_BODY = 1024 * 1024  # Gupshup's callbacks are a few KiB


class Seen:
    """The identities of events handled in the last day, at most ``limit`` of them."""

    def __init__(self, ttl: float = 86_400.0, limit: int = 100_000) -> None:
        self.ttl, self.limit = ttl, limit
        self._seen: collections.OrderedDict[tuple[str, ...], float] = collections.OrderedDict()

    def fresh(self, events: list[Event]) -> list[Event]:
        now = time.monotonic()
        while self._seen and (
            len(self._seen) > self.limit or next(iter(self._seen.values())) < now - self.ttl
        ):
            self._seen.popitem(last=False)
        new = [event for event in events if event.identity not in self._seen]
        for event in new:
            self._seen[event.identity] = now
        return new


def create_app(secret: str, handle: Handler) -> FastAPI:
    if not secret:
        raise ValueError("set a shared secret: without one, anybody can post events")
    app = FastAPI()
    seen = Seen()

    @app.post("/hooks/gupshup")
    async def gupshup_hook(request: Request, background: BackgroundTasks) -> Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), secret):
            return Response(status_code=401)
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(status_code=413)
        try:
            events = parse_events(body)
        except WebhookError:
            return Response(status_code=400)
        background.add_task(handle, seen.fresh(events))  # after the 200: Gupshup waits 10 s
        return Response(status_code=200)

    return app


async def print_events(events: list[Event]) -> None:
    for event in events:
        print(event)


def from_env() -> FastAPI:
    return create_app(os.environ.get("GUPSHUP_HOOK_SECRET", ""), print_events)
