"""A Gupshup webhook receiver under aiohttp's web server: checks the shared secret, answers at
once, drops repeated callbacks, and hands typed events to your code in the background.

    export GUPSHUP_HOOK_SECRET=...   # the same value as a header in the subscription's "meta"
    python examples/receiver_aiohttp.py --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hmac
import os
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gupshup_async import Event, WebhookError, parse_events

Handler = Callable[[list[Event]], Awaitable[None]]
SECRET_HEADER = "X-Hook-Secret"
MAX_BODY = 1024 * 1024


def create_app(secret: str, handle: Handler) -> web.Application:
    if not secret:
        raise ValueError("set a shared secret: without one, anybody can post events")
    seen: collections.OrderedDict[tuple[str, ...], float] = collections.OrderedDict()
    background: set[asyncio.Task[None]] = set()

    def fresh(events: list[Event]) -> list[Event]:
        now = time.monotonic()
        while seen and (len(seen) > 100_000 or next(iter(seen.values())) < now - 86_400):
            seen.popitem(last=False)
        new = [event for event in events if event.identity not in seen]
        seen.update((event.identity, now) for event in new)
        return new

    async def gupshup_hook(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), secret):
            return web.Response(status=401)
        try:
            events = parse_events(await request.read())
        except WebhookError:
            return web.Response(status=400)
        task = asyncio.create_task(handle(fresh(events)))  # answered before it runs
        background.add(task)
        task.add_done_callback(background.discard)
        return web.Response(status=200)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/hooks/gupshup", gupshup_hook)
    return app


async def print_events(events: list[Event]) -> None:
    for event in events:
        print(event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = create_app(os.environ.get("GUPSHUP_HOOK_SECRET", ""), print_events)
    web.run_app(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
