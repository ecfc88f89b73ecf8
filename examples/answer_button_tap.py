"""A request handler that answers a button tap: marks it read, replies to it with text, sends
an image.

The webhook receiver (aiohttp's web server here) hands each tap to `answer`: `client.reply`
marks the tap read (typing shown meanwhile) and sends the confirmation in context of it. One
GupshupClient is made when the app starts and closed when it stops, and shared by every
request.

    export GUPSHUP_APP_ID=... GUPSHUP_APP_TOKEN=... GUPSHUP_HOOK_SECRET=...
    python examples/answer_button_tap.py --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import os
from collections.abc import AsyncIterator

from aiohttp import web

from gupshup_async import (
    ButtonMessage,
    ButtonReply,
    GupshupClient,
    ImageMessage,
    TextMessage,
    WebhookError,
    parse_events,
)

CLIENT = web.AppKey("client", GupshupClient)
TASKS = web.AppKey("tasks", set)


MAP = "https://cdn.example.com/chez-nous-map.png"


async def answer(client: GupshupClient, tap: ButtonReply) -> None:
    if tap.id == "book":
        await client.reply(tap, TextMessage("Booked: a table for two at 8pm. See you then!"))
        await client.send(tap.sender, ImageMessage(MAP, caption="How to find us"))
    else:
        again = ButtonMessage("No problem. Shall we try another time?", [("book", "Book it")])
        await client.reply(tap, again)


def create_app(client: GupshupClient, secret: str) -> web.Application:
    if not secret:
        raise ValueError("set a shared secret: without one, anybody can post events")

    async def hook(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get("X-Hook-Secret", ""), secret):
            return web.Response(status=401)
        try:
            events = parse_events(await request.read())
        except WebhookError:
            return web.Response(status=400)
        for event in events:
            if isinstance(event, ButtonReply):
                task = asyncio.create_task(answer(request.app[CLIENT], event))
                request.app[TASKS].add(task)
                task.add_done_callback(request.app[TASKS].discard)
        return web.Response(status=200)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        async with client:
            yield
            await asyncio.gather(*app[TASKS], return_exceptions=True)

    app = web.Application()
    app[CLIENT] = client
    app[TASKS] = set()
    app.router.add_post("/hooks/gupshup", hook)
    app.cleanup_ctx.append(lifetime)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()

    async def make() -> web.Application:  # the client is made inside the server's loop
        return create_app(GupshupClient.from_env(), os.environ.get("GUPSHUP_HOOK_SECRET", ""))

    web.run_app(make(), port=args.port)


if __name__ == "__main__":
    main()
