"""The sandbox's I/O shell: aiohttp's web server in front of the rules in _rules.py.

Everything the sandbox decides is in `SandboxRules`; this module only reads requests (aiohttp
parses them, with llhttp), waits where an answer is slow, drops connections where a fault says
so, and posts status callbacks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from aiohttp import web
from httpx_aiohttp import HttpxAiohttpClient

from gupshup_async._closing import AsyncClosing
from gupshup_async.sandbox._account import SANDBOX_APP_ID, SANDBOX_TOKEN, Account, Processed
from gupshup_async.sandbox._events import (
    gupshup_billing_event,
    gupshup_status_event,
    inbound_event,
    number_change_event,
    preference_event,
    reply_event,
    status_event,
    template_status_event,
)
from gupshup_async.sandbox._rules import Answer, Faults, SandboxRules
from gupshup_async.template_definitions import TemplateDefinitions

__all__ = ["Sandbox"]

_MAX_BODY = 1024 * 1024
_DROP_AFTER = 0.1


#: Seconds between a message processed and its first status, and between its statuses: a
#: fast first status as Gupshup posts them, so the loop shows without slowing a demo.
STATUS_DELAY = 0.2


def _response(answer: Answer) -> web.Response:
    # A file answers with its own type; everything else the sandbox says is JSON.
    headers = dict(answer.headers)
    kind = None if "Content-Type" in headers else "application/json"
    return web.Response(status=answer.status, body=answer.body, content_type=kind, headers=headers)


# A callback answered 5xx (or not at all) is posted again, up to this many times in all, the
# waits doubling from 0.2 s to at most 5 s (about half a minute in all): a receiver that is
# slow for a while, not gone, still gets every callback.
_CALLBACK_ATTEMPTS = 10


class Sandbox(AsyncClosing):
    """A local Gupshup look-alike on 127.0.0.1, for demos, tests and benchmarks.

    ::

        async with Sandbox(rate=80, faults=Faults(unavailable=0.05)) as sandbox:
            async with GupshupClient(SANDBOX_APP_ID, SANDBOX_TOKEN, base_url=sandbox.base_url):
                ...
            sandbox.account.processed   # what was accepted, in order

    ``apps`` maps app ids to their tokens (one app, ``sandbox-app``, by default);
    ``billing_disabled`` and ``not_on_cloud`` name apps that fail that way; ``rate`` is the
    requests per second (sliding one-second window) above which it answers 429, with a
    ``Retry-After`` of ``retry_after`` seconds when set; ``faults`` and ``seed`` inject
    failures; ``validate=False`` accepts any interactive object.

    With ``callback_url`` (or several, taken in turn; a callback answered 5xx is posted again,
    as Gupshup does), it posts version-3 status callbacks for every message it accepts
    (``statuses``, ``status_delay`` seconds apart, the first ``status_delay`` after the message
    was processed, its answer lost on purpose or not; ``enqueued`` then ``failed`` with 131026 for
    numbers in ``undeliverable``, with 131047 for free-form messages to numbers in
    ``outside_window``), with ``callback_headers`` (the subscription's ``meta`` headers);
    ``repeat_callbacks`` posts each twice, ``reorder_callbacks`` in reverse order. Statuses name
    Meta's id (a ``wamid.``) and carry the send's id as ``gs_id``, as Gupshup's do. `tap` posts
    a user's tap on a button or list row, whose ``context.id`` is that wamid; `tap_template` a
    tap on a template's quick reply; `user_writes` a message from a user.

    ``templates``: the `TemplateDefinitions` it knows (``SANDBOX_TEMPLATES`` by default): a
    template message that does not fit one is refused (132000, 132001). ``windows=True``: a
    free-form message to a user who has not written (`user_writes`) in the last 24 hours is
    accepted, then fails with 131047; templates always go through.

    ``callback_format="gupshup"``: statuses come in Gupshup's own format (a version-2
    subscription's ``message-event``), each sent or free-form message followed by its
    ``billing-event``; by default they come in Meta's envelope, with the user's
    business-scoped user id (``recipient_user_id``) and pricing. `template_status`,
    `user_preference` and `change_number` post what WhatsApp says of templates and users.
    """

    app_id = SANDBOX_APP_ID
    token = SANDBOX_TOKEN

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        apps: Mapping[str, str] | None = None,
        billing_disabled: frozenset[str] | set[str] = frozenset(),
        not_on_cloud: frozenset[str] | set[str] = frozenset(),
        rate: float | None = None,
        retry_after: float | None = None,
        faults: Faults = Faults(),  # noqa: B008  (frozen)
        seed: int = 0,
        validate: bool = True,
        callback_url: str | Sequence[str] | None = None,
        callback_headers: Mapping[str, str] | None = None,
        statuses: Sequence[str] = ("enqueued", "sent", "delivered", "read"),
        undeliverable: frozenset[str] | set[str] = frozenset(),
        outside_window: frozenset[str] | set[str] = frozenset(),
        status_delay: float = STATUS_DELAY,
        repeat_callbacks: bool = False,
        reorder_callbacks: bool = False,
        templates: TemplateDefinitions | None = None,
        windows: bool = False,
        callback_format: str = "meta",
    ) -> None:
        if callback_format not in ("meta", "gupshup"):
            raise ValueError(f"callback_format is 'meta' or 'gupshup', not {callback_format!r}")
        self.callback_format = callback_format
        # Several receivers behind one subscription: each callback goes to the next in turn.
        urls = [callback_url] if isinstance(callback_url, str) else list(callback_url or [])
        self.callback_url = urls[0] if urls else None
        self._callback_urls = urls
        self._next_callback = 0
        self.callback_headers = dict(callback_headers or {})
        self._configured_callback = callback_url is not None
        self._followed = False  # the callback in use came from a subscription
        self.statuses = tuple(statuses)
        self.undeliverable = frozenset(undeliverable)
        self.outside_window = frozenset(outside_window)
        self.status_delay = status_delay
        self.repeat_callbacks = repeat_callbacks
        self.reorder_callbacks = reorder_callbacks
        self._callbacks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self.host = host
        self.port = port
        self.rules = SandboxRules(
            apps=apps,
            billing_disabled=frozenset(billing_disabled),
            not_on_cloud=frozenset(not_on_cloud),
            rate=rate,
            retry_after=retry_after,
            faults=faults,
            seed=seed,
            validate=validate,
            templates=templates,
            windows=windows,
        )
        self._inbound_seq = 0
        self._runner: web.AppRunner | None = None

    @property
    def account(self) -> Account:
        return self.rules.account

    @property
    def callbacks_pending(self) -> int:
        """Status callbacks still to be posted."""
        return len(self._callbacks)

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the sandbox is not running")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen on ``host``:``port`` (a free port when 0). Raises `OSError` when taken."""
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{path:.*}", self._handle)
        # A stopped sandbox drops what it was still answering (slow faults), as a server
        # that dies would, instead of waiting for it.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=_DROP_AFTER
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, reuse_address=True).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.path
        parts = path.split("/")
        if request.method == "POST" and parts[1:3] == ["partner", "app"] and parts[4:] == ["media"]:
            return _response(await self._upload(parts[3], request))
        body = await request.read()
        if request.method == "POST" and path == "/sandbox/inbound":
            return await self._user_writes_over_http(body)
        rules = self.rules
        seen = len(rules.account.processed)
        answer = rules.answer(
            request.method, request.rel_url.raw_path, request.headers, body, time.monotonic()
        )
        self._follow_subscriptions()
        if self.callback_url is not None and len(rules.account.processed) > seen:
            self._report(rules.account.processed[seen:])
        if answer.drops_connection and request.transport is not None:
            request.transport.abort()  # what follows is written to no one
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return _response(answer)

    def _follow_subscriptions(self) -> None:
        """Post callbacks where the latest version-3 subscription says, as Gupshup does,
        unless the sandbox was given a callback URL of its own.
        """
        if self._configured_callback:
            return
        latest = [s for s in self.rules.account.subscriptions.values() if s["version"] == 3]
        if latest:
            self.callback_url = latest[-1]["url"]
            self.callback_headers = {str(k): str(v) for k, v in latest[-1]["meta"].items()}
            self._followed = True
        elif self._followed:  # the subscription was removed
            self.callback_url, self.callback_headers, self._followed = None, {}, False

    async def _upload(self, app_id: str, request: web.Request) -> Answer:
        """The media endpoint: aiohttp reads the multipart form, the rules decide."""
        try:
            form = await request.post()
        except ValueError:
            form = None
        upload = form.get("file") if form is not None else None
        data = None
        if isinstance(upload, web.FileField):
            with upload.file:  # aiohttp may spool it to a temporary file: closed here
                data = upload.file.read()
        file_type = form.get("file_type") if form is not None else None
        return self.rules.upload(app_id, request.headers, file_type, data)

    async def template_status(self, name: str, language: str, status: str) -> None:
        """A template paused, disabled or approved again, as Meta reports it: messages naming
        it are judged so from now on, and the status webhook is posted.
        """
        self.rules.set_template_status(name, language, status)
        if self.callback_url is not None:
            await self._post(template_status_event(self.app_id, name, language, status))

    async def user_preference(self, wa_id: str, value: str = "stop") -> None:
        """A user stops (or resumes) marketing messages: a marketing template to them is
        accepted and then fails with 131050, and the ``user_preferences`` webhook is posted.
        """
        if value == "stop":
            self.rules.account.opted_out.add(wa_id)
        else:
            self.rules.account.opted_out.discard(wa_id)
        if self.callback_url is not None:
            await self._post(preference_event(self.app_id, wa_id, value, int(time.time())))

    async def change_number(self, old: str, new: str) -> None:
        """The user of ``old`` changed their number to ``new``: a message to ``old`` is
        accepted and then fails with 131026 (nobody is there), and the ``user_changed_number``
        system message is posted.
        """
        old, new = old.lstrip("+"), new.lstrip("+")
        self.rules.account.moved[old] = new
        self._inbound_seq += 1
        if self.callback_url is not None:
            event = number_change_event(self.app_id, old, new, self._inbound_seq, int(time.time()))
            await self._post(event)

    async def user_sends_media(
        self, sender: str, kind: str, data: bytes, mime_type: str, *, caption: str | None = None
    ) -> str:
        """Post the callback of the user sending a file (``kind``: image, video, audio,
        document, sticker), with the URL to fetch it from the sandbox, as Gupshup gives one.
        Returns the media id.
        """
        media_id = self.rules.keep_media(mime_type, data)
        media: dict[str, Any] = {"id": media_id, "mime_type": mime_type, "sha256": "sandbox"}
        media["url"] = f"{self.base_url}/sandbox/media/{media_id}"
        if caption is not None:
            media["caption"] = caption
        self._inbound_seq += 1
        content = {"type": kind, kind: media}
        event = inbound_event(self.app_id, sender, content, self._inbound_seq, int(time.time()))
        await self._post(event)
        return media_id

    async def tap(
        self,
        message_id: str,
        reply_id: str,
        title: str | None = None,
        *,
        kind: str = "button_reply",
        description: str | None = None,
    ) -> None:
        """Post the callback of the user tapping button (or list row, ``kind="list_reply"``)
        ``reply_id`` of the message ``message_id`` (a message the sandbox accepted).
        """
        processed = self._processed(message_id)
        event = reply_event(
            processed.app_id,
            processed,
            reply_id,
            title if title is not None else reply_id,
            int(time.time()),
            kind=kind,
            description=description,
        )
        await self._post(event)

    async def tap_template(self, message_id: str, payload: str, text: str | None = None) -> None:
        """Post the callback of the user tapping the quick reply with ``payload`` of the
        template message ``message_id``.
        """
        processed = self._processed(message_id)
        message = {
            "type": "button",
            "context": {"from": "sandbox-business", "id": processed.wamid},
            "button": {"payload": payload, "text": text if text is not None else payload},
        }
        await self.user_writes(processed.to, message=message)

    async def user_writes(
        self, to: str, text: str = "Hi", *, message: Mapping[str, Any] | None = None
    ) -> None:
        """``to`` writes to the business (``text``, or any ``message`` object): their 24-hour
        window opens, and the callback is posted when there is a ``callback_url``.
        """
        self.rules.user_wrote(to, time.monotonic())
        self._inbound_seq += 1
        if self.callback_url is not None:
            content = message or {"type": "text", "text": {"body": text}}
            sender = to.lstrip("+").replace(" ", "")
            event = inbound_event(self.app_id, sender, content, self._inbound_seq, int(time.time()))
            await self._post(event)

    async def _user_writes_over_http(self, body: bytes) -> web.Response:
        """``POST /sandbox/inbound {"from": "+91...", "text": "Hi"}``: a user writes."""
        try:
            said = json.loads(body)
            await self.user_writes(str(said["from"]), str(said.get("text", "Hi")))
        except (ValueError, KeyError, TypeError) as bad:
            return web.json_response(
                {"error": f"want {{'from': number, 'text': ...}}: {bad}"}, status=400
            )
        return web.json_response({"ok": True})

    def _processed(self, message_id: str) -> Processed:
        processed = next((p for p in self.account.processed if p.message_id == message_id), None)
        if processed is None:
            raise LookupError(f"the sandbox accepted no message {message_id!r}")
        return processed

    def _report(self, processed: Sequence[Processed]) -> None:
        for item in processed:
            task = asyncio.get_running_loop().create_task(self._statuses(item))
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)

    async def _statuses(self, item: Processed) -> None:
        code = 131026
        statuses: Sequence[str] = self.statuses
        if item.to in self.undeliverable or item.to in self.account.moved:
            statuses = ("enqueued", "failed")
        elif item.outside_window or (item.to in self.outside_window and item.template is None):
            statuses, code = ("enqueued", "failed"), 131047  # accepted, then refused by WhatsApp
        elif self.rules.marketing_declined(item.to, item.template, item.language or ""):
            statuses, code = ("enqueued", "failed"), 131050  # the user stopped marketing
        category = self.rules.pricing_category(item.template, item.language)
        if self.callback_format == "gupshup":
            events = self._gupshup_statuses(item, statuses, code, category)
        else:
            events = [
                status_event(
                    item.app_id,
                    item,
                    status,
                    int(time.time()),
                    failed_code=code,
                    pricing_category=category,
                )
                for status in statuses
            ]
        if self.reorder_callbacks:
            events.reverse()  # Gupshup may deliver statuses out of order
        for event in events:
            await asyncio.sleep(self.status_delay)
            await self._post(event)
            if self.repeat_callbacks:  # and retry one it thought unacknowledged
                await self._post(event)

    def _gupshup_statuses(
        self, item: Processed, statuses: Sequence[str], code: int, category: str
    ) -> list[dict[str, Any]]:
        now_ms = int(time.time() * 1000)
        events = [
            gupshup_status_event(item.app_id, item, status, now_ms, failed_code=code)
            for status in statuses
        ]
        if "sent" in statuses:  # Gupshup bills a message once WhatsApp took it
            at = list(statuses).index("sent") + 1
            events.insert(at, gupshup_billing_event(item.app_id, item, category, now_ms))
        return events

    async def _post(self, event: Mapping[str, Any]) -> None:
        if self.callback_url is None:
            raise RuntimeError("the sandbox has no callback_url")
        if self._http is None:
            self._http = HttpxAiohttpClient(timeout=10.0)
        urls = self._callback_urls if len(self._callback_urls) > 1 else [self.callback_url]
        # As Gupshup does, a callback not acknowledged (5xx, no answer) is sent again, a few
        # times, a little later each time (to the next receiver when there are several).
        for attempt in range(_CALLBACK_ATTEMPTS):
            self._next_callback += 1
            url = urls[self._next_callback % len(urls)]
            try:
                answer = await self._http.post(url, json=event, headers=self.callback_headers)
            except httpx.HTTPError:
                pass
            else:
                if answer.status_code < 500:
                    self.account.callbacks[url] += 1
                    return
            self.account.faults["callback_retried"] += 1
            await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
        self.account.faults["callback_failed"] += 1

    async def stop(self) -> None:
        for task in list(self._callbacks):
            task.cancel()
        await asyncio.gather(*self._callbacks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            await asyncio.sleep(0)  # let the closed connections' callbacks close their sockets

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def aclose(self) -> None:
        await self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self._runner else "stopped"
        return f"<Sandbox {where}>"
