"""GupshupClient: one shared httpx.AsyncClient, the limiter, and the retries of each send.

A message takes one path, `GupshupClient._deliver`, from `send` and from a campaign alike: the
window policy and the template check decide what goes, the body is encoded once, then each
attempt waits for the limiter, goes through the one `Exchange` (``_http.py``) and is read in
answers.py. The first attempt runs directly; a retryable failure hands the rest to tenacity.
What is retried, how long it waits and when it stops come from the one `RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import os
import ssl
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import attrs
import httpx
import phonenumbers
import tenacity

from gupshup_async import _engine
from gupshup_async._closing import AsyncClosing
from gupshup_async._confirm import Confirmer
from gupshup_async._http import Exchange, token_headers, total_timeout
from gupshup_async._media_files import check_upload
from gupshup_async._template_list import TemplateList
from gupshup_async.answers import accepted_ids
from gupshup_async.auth import (
    PartnerCredentials,
    StaticToken,
    TokenProvider,
    UniversalAppToken,
    fresh_token,
    unauthorized,
)
from gupshup_async.bulk import AttemptWatch, BulkRun, template_refusal
from gupshup_async.errors import (
    APIError,
    GupshupError,
    RateLimitError,
    RecipientMoved,
    ValidationError,
)
from gupshup_async.identities import People, moves
from gupshup_async.items import Item
from gupshup_async.messages import (
    NO_ENVELOPE,
    Envelope,
    Message,
    TemplateMessage,
    normalize_recipient,
)
from gupshup_async.messages import encode_normalized as encode
from gupshup_async.policy import RetryPolicy
from gupshup_async.ratelimit import Limiter, RateLimit
from gupshup_async.results import BulkStats, SendResult
from gupshup_async.stores import Journal, WindowStore
from gupshup_async.stores.statuses import Seen, StatusSource
from gupshup_async.subscriptions import (
    DEFAULT_MODES,
    Subscription,
    check_url,
    read_subscription,
    read_subscriptions,
)
from gupshup_async.tags import Tag
from gupshup_async.template_definitions import TemplateDefinitions
from gupshup_async.webhooks import (
    Event,
    FromUser,
    MediaReceived,
    TemplateUpdate,
    UserPreference,
)
from gupshup_async.window import WindowPolicy

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "GupshupClient", "SendHooks"]

_T = TypeVar("_T")

logger = logging.getLogger("gupshup_async")

DEFAULT_BASE_URL = "https://partner.gupshup.io"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_JSON = "application/json"


# The longest a download may take, whole: 100 MB at about 170 KB/s.
_DOWNLOAD_WITHIN = 600.0

# The providers that fetch tokens over HTTP: through the client's own exchange.
_MADE_HERE = (PartnerCredentials, UniversalAppToken)


class SendHooks:
    """Override any of these to feed metrics or tracing; each is called inline, so keep it
    quick. They see recipients and errors, never tokens or message bodies.
    """

    def attempt(self, to: str, attempt: int) -> None:
        """A request is about to leave (after the rate limiter let it)."""

    def retry(self, to: str, attempt: int, error: GupshupError, wait: float) -> None:
        """Attempt number ``attempt`` failed with ``error``; the next comes in ``wait`` s."""

    def success(self, result: SendResult) -> None:
        """The message was accepted."""

    def failure(self, to: str, error: GupshupError) -> None:
        """The send gave up with ``error`` (its ``attempts`` say how many were made)."""


# An accepted answer read: (the id it gives, the recipient's WhatsApp id, their user id).
_Accepted = tuple[str, "str | None", "str | None"]


@attrs.define
class _Request:
    """One call's request, made once: a message's body (with a tag, made again for each later
    attempt so that each carries its own: `gupshup_async.tags`), or another endpoint's
    (``url``, ``read`` its answer): a read receipt, an upload. ``recipient`` is who the
    limiter spaces it for; ``hooked``: `SendHooks` hear of it (messages only).
    """

    recipient: str
    message: Message | None
    envelope: Envelope
    tag: Tag | None
    body: bytes = b""
    url: httpx.URL | None = None  # None: the message endpoint
    read: Callable[[int, bytes], _Accepted] = accepted_ids
    content_type: str | None = _JSON
    files: dict[str, tuple[str, bytes, str]] | None = None
    form: dict[str, str] | None = None
    #: Whether a failure after the request was written may have done it: false for calls
    #: that may safely be made twice (marking a message read; an upload).
    ambiguous: bool = True
    hooked: bool = True
    method: str = "POST"
    number: int = 0  # the attempt ``body`` was made for
    tagged: str | None = None  # and the callback data it carries

    def body_for(self, number: int) -> bytes:
        if self.message is None:
            return self.body
        if not self.body or (self.tag is not None and number != self.number):
            envelope = self.envelope
            if self.tag is not None:
                self.tagged = str(self.tag.at(number))
                envelope = attrs.evolve(envelope, callback_data=self.tagged)
            self.body, self.number = encode(self.recipient, self.message, envelope), number
        return self.body

    def callback_data(self, number: int) -> str | None:
        if self.tag is None:
            return self.envelope.callback_data
        return self.tagged if number == self.number else str(self.tag.at(number))


@attrs.define
class _Tally:
    """One send's bookkeeping across its attempts."""

    recipient: str
    token: str
    watch: AttemptWatch | None
    request: _Request
    confirmer: Confirmer | None
    attempts: int = 0
    ambiguous: int = 0
    refreshed: bool = False
    next_wait: float = 0.0
    #: The tags of this send's attempts whose answer never came.
    uncertain: list[str] = attrs.Factory(list)

    @property
    def number(self) -> int:
        """The tag number of the latest request (over all runs, for a campaign's item)."""
        first = self.request.tag.attempt if self.request.tag is not None else 1
        return first + self.attempts - 1

    @property
    def confirms(self) -> bool:
        return self.confirmer is not None and self.request.tag is not None


class GupshupClient(AsyncClosing):
    """Sends interactive messages through Gupshup's Partner API v3.

    ::

        async with GupshupClient(app_id, token) as client:
            result = await client.send("+91 98765 43210", ButtonMessage("Hi", ["Yes", "No"]))

    - ``token``: the app token, or a `TokenProvider` that can refresh it after a 401.
    - ``rate_limit``: a `RateLimit`, any `Limiter` (to share one between clients), or None to
      send as fast as the connections allow.
    - ``retry``: the `RetryPolicy`.
    - ``timeout``: seconds, or an ``httpx.Timeout`` (default: 30 s, 10 s to connect); with
      ``http_client``, that client's own timeouts apply unless one is given.
    - ``attempt_timeout``: no attempt lasts longer than this, whatever the server does (an
      answer that trickles in a byte at a time included); default: the connect, pool and read
      timeouts added up.
    - ``http_client``: an ``httpx.AsyncClient`` to send through (its transport, proxies, event
      hooks, auth and headers apply); it is not closed with this client. By default the client
      is made here on aiohttp's transport (httpx-aiohttp), with ``max_connections`` and
      ``verify`` (an ``ssl.SSLContext``, or False to skip certificate checks).
    - ``hooks``: `SendHooks` for metrics and tracing.
    - ``windows``: a window store (`MemoryWindowStore`, `SqliteWindowStore`) that a `Receiver`
      feeds; ``window_policy``: what to do with a free-form message to a user whose 24-hour
      window is not open (`WindowPolicy`; default: send anyway). See "Templates".
    - ``templates``: check every `TemplateMessage` against these `TemplateDefinitions` before
      sending, or ``"fetch"`` to check against the app's templates as Gupshup lists them
      (`fetch_templates`, cached for ``templates_max_age`` seconds).
    - ``statuses``: a `StatusSource` (`JournalStatuses`, `MemoryStatuses`) that a `Receiver`
      feeds: every send is then tagged so that its statuses name it, and an attempt whose
      answer never came waits up to ``retry.confirm_within`` seconds for a status before it is
      retried or given up (see "Uncertain attempts"). None: retried or given up at once.
    - ``default_region``: the country (ISO code, ``"IN"``) of numbers written without their
      country code, as CRM exports often are (``98765 43210``, ``098765 43210``). Without it,
      such a number is refused (`ValidationError` at ``to``) rather than read as an
      international number and sent to someone else. Numbers are checked with phonenumbers'
      ``is_valid_number`` either way.

    Safe to use from many tasks at once, in the one event loop it is first used in: create
    one per event loop (a second loop gets a `RuntimeError`, never a hang).
    """

    def __init__(
        self,
        app_id: str,
        token: str | TokenProvider,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit: RateLimit | Limiter | None = RateLimit(),  # noqa: B008  (frozen: safe)
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008
        timeout: float | httpx.Timeout | None = None,
        attempt_timeout: float | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = 100,
        verify: ssl.SSLContext | bool = True,
        hooks: SendHooks | None = None,
        windows: WindowStore | None = None,
        window_policy: WindowPolicy = WindowPolicy(),  # noqa: B008  (frozen)
        templates: TemplateDefinitions | Literal["fetch"] | None = None,
        templates_max_age: float = 600.0,
        default_region: str | None = None,
        statuses: StatusSource | None = None,
    ) -> None:
        if not isinstance(app_id, str) or not app_id.strip():
            raise ValueError("app_id must be a non-empty string")
        if default_region is not None:
            default_region = default_region.upper()
            if default_region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(
                    f"default_region must be a country's ISO code (IN, BR, US...), "
                    f"got {default_region!r}"
                )
        self.default_region = default_region
        if attempt_timeout is not None and not attempt_timeout > 0:
            raise ValueError(f"attempt_timeout must be positive, got {attempt_timeout!r}")
        self.app_id = app_id
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._provider: TokenProvider = StaticToken(token) if isinstance(token, str) else token
        self._limiter: Limiter | None = (
            rate_limit.limiter() if isinstance(rate_limit, RateLimit) else rate_limit
        )
        self._hooks = hooks
        self._owns_provider = False  # a provider made by from_env is closed with the client
        app_path = f"{self.base_url}/partner/app/{quote(app_id, safe='')}"
        self._app_path = app_path
        self._url = f"{app_path}/v3/message"
        self._event_url = httpx.URL(f"{app_path}/v1/event")
        self._media_url = httpx.URL(f"{app_path}/media")
        self._calls = itertools.count(1)  # the limiter's key of each call that is no message
        self._owns_http = http_client is None
        self._timeout: httpx.Timeout | None = None if timeout is None else httpx.Timeout(timeout)
        if http_client is None:
            http_client = _engine.make_http_client(
                timeout=self._timeout or DEFAULT_TIMEOUT,
                max_connections=max_connections,
                verify=verify,
            )
            self._timeout = None  # already the client's own
        self._http = http_client
        self._exchange = Exchange(
            http_client,
            timeout=self._timeout,
            attempt_timeout=attempt_timeout or total_timeout(self._timeout or http_client.timeout),
        )
        if isinstance(self._provider, _MADE_HERE):
            self._provider.use_exchange(self._exchange)  # token requests take the one path too
        # The attempts after the first: the first ran before tenacity is called.
        self._retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(retry.retryable),
            stop=tenacity.stop_after_attempt(max(1, retry.max_attempts - 1)),
            wait=_planned_wait,
            before_sleep=self._before_sleep,
            sleep=asyncio.sleep,
            reraise=True,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._httpx_url = httpx.URL(self._url)
        self._headers: tuple[str, httpx.Headers] | None = None
        self._closed = False
        if window_policy.checks and windows is None:
            raise ValueError("a window policy that checks windows needs a window store (windows=)")
        if templates not in (None, "fetch") and not isinstance(templates, TemplateDefinitions):
            raise ValueError("templates must be TemplateDefinitions, 'fetch' or None")
        self.windows = windows
        self.window_policy = window_policy
        self.statuses = statuses
        self._confirmer = Confirmer(statuses) if statuses is not None else None
        # Plain sends' tags: this client's (random: clients never share one), then a count.
        self._tag_prefix = f"c{uuid.uuid4().hex[:11]}"
        # What `learn` heard: templates' statuses, users who stopped marketing messages.
        self._template_status: dict[tuple[str, str], str] = {}
        self._opted_out: set[str] = set()
        self._people = People()  # which ids are one person, as `learn` was told
        self._moved: dict[str, str] = {}
        self._sends = itertools.count(1)
        self._templates = templates
        self._template_list = TemplateList(
            self._exchange,
            self._provider,
            f"{self.base_url}/partner/app/{quote(app_id, safe='')}/templates",
            max_age=templates_max_age,
        )

    @classmethod
    def from_env(cls, **options: Any) -> GupshupClient:
        """A client configured from the environment: ``GUPSHUP_APP_ID`` and either
        ``GUPSHUP_APP_TOKEN``, a universal token (``GUPSHUP_UNIVERSAL_TOKEN``: app tokens minted
        from it and renewed before they expire) or partner credentials (``GUPSHUP_PARTNER_EMAIL``
        and ``GUPSHUP_PARTNER_SECRET``); ``GUPSHUP_BASE_URL`` if set. ``options`` go to the
        constructor.
        """
        env = os.environ
        app_id = env.get("GUPSHUP_APP_ID", "")
        if not app_id:
            raise ValueError("GUPSHUP_APP_ID is not set")
        options.setdefault("base_url", env.get("GUPSHUP_BASE_URL") or DEFAULT_BASE_URL)
        token: str | TokenProvider
        if env.get("GUPSHUP_APP_TOKEN"):
            token = env["GUPSHUP_APP_TOKEN"]
        elif env.get("GUPSHUP_UNIVERSAL_TOKEN"):
            token = UniversalAppToken(
                app_id, env["GUPSHUP_UNIVERSAL_TOKEN"], base_url=options["base_url"]
            )
        elif env.get("GUPSHUP_PARTNER_EMAIL") and env.get("GUPSHUP_PARTNER_SECRET"):
            token = PartnerCredentials(
                app_id,
                env["GUPSHUP_PARTNER_EMAIL"],
                env["GUPSHUP_PARTNER_SECRET"],
                base_url=options["base_url"],
            )
        else:
            raise ValueError(
                "set GUPSHUP_APP_TOKEN, or GUPSHUP_PARTNER_EMAIL and GUPSHUP_PARTNER_SECRET"
            )
        client = cls(app_id, token, **options)
        client._owns_provider = True
        return client

    @property
    def limiter(self) -> Limiter | None:
        return self._limiter

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` every request goes through (to instrument it, say)."""
        return self._http

    def __repr__(self) -> str:
        return f"GupshupClient(app_id={self.app_id!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Close the connections, when the HTTP client is ours. Idempotent."""
        self._closed = True
        if self._owns_http:
            await self._http.aclose()
            # aiohttp closes its sockets in callbacks it schedules as it closes; one turn of
            # the loop runs them (aiohttp's "graceful shutdown"), so a loop closed right after
            # leaves no socket open.
            await asyncio.sleep(0)
        if self._owns_provider and isinstance(self._provider, _MADE_HERE):
            await self._provider.aclose()

    # Sending ------------------------------------------------------------------------------

    def send_many(
        self,
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        concurrency: int = 32,
        journal: Journal | str | os.PathLike[str] | None = None,
        skip_unreachable: bool = True,
        shard: tuple[int, int] | None = None,
        window_policy: WindowPolicy | None = None,
        stats: BulkStats | None = None,
        statuses: StatusSource | None = None,
    ) -> BulkRun:
        """Send many messages; outcomes come back as they finish, exactly one per item.

        ``items``: ``(to, message)`` pairs, sync or async, read lazily; ``to`` may be a
        `Recipient` carrying your own key. Messages to one recipient leave in the order given,
        one at a time; different recipients go in parallel, ``concurrency`` at a time. After an
        error that would fail every item (authentication, billing, unknown app), nothing more
        is sent: the remaining items end at once with that error. ``journal`` (a path or a
        `Journal`) records every item so that a rerun skips what was done; see "Bulk sends".
        With a journal, what a `Receiver` records of the statuses feeds back: an account-level
        failure stops the run, and (``skip_unreachable``) later items to a recipient whose
        message failed for good are not sent (`UnreachableRecipient`). ``shard=(i, n)`` takes
        only the items whose recipient hashes to shard ``i`` of ``n``: run one process per shard
        (each with its own journal) and every message to one person goes through one of them.
        ``window_policy``: this run's `WindowPolicy`, in place of the client's: decided per item as
        it is sent; a template sent in place of a message shows as ``result.sent_instead``, a
        refusal as `OutsideWindow` (not journaled: a later run looks again). ``stats``: a
        `BulkStats` to count into (the run's ``stats``; give your own to keep the counts when
        the run is cancelled under you). ``statuses``: this run's `StatusSource`, in place of
        the client's: an attempt whose answer never came waits for a status naming it (holding
        that recipient only), and a resumed item is settled by its statuses; see "Uncertain
        attempts".
        """
        if journal is not None and not isinstance(journal, Journal):
            journal = Journal(journal)
        confirmer = self._confirmer
        if statuses is not None and statuses is not self.statuses:
            confirmer = Confirmer(statuses)
        return BulkRun(
            _Delivery(self, self._policy(window_policy), confirmer),
            items,
            concurrency=concurrency,
            journal=journal,
            skip_unreachable=skip_unreachable,
            shard=shard,
            stats=stats,
            region=self.default_region,
            confirmer=confirmer,
            confirm_within=self.retry.confirm_within,
        )

    async def send(
        self,
        to: str,
        message: Message,
        *,
        reply_to: str | None = None,
        callback_data: str | None = None,
        window_policy: WindowPolicy | None = None,
    ) -> SendResult:
        """Send ``message`` to ``to`` (a phone number, or a business-scoped user id such as
        ``US.13491208655302741918``) and return once it was accepted.

        ``reply_to``: the id (wamid) of the user's message this one answers, shown as a reply.
        ``callback_data``: your own tag, at most 512 characters, echoed exactly in this message's
        status webhooks (Meta's ``biz_opaque_callback_data``); such a send is not tagged by the
        library, so a status source cannot settle its uncertain attempts (they are retried or
        given up as without one). ``window_policy``: the `WindowPolicy` for
        this send, in place of the client's; when it sends a template instead, the result's
        ``sent_instead`` is that template.

        Raises `ValidationError` before sending for a bad recipient or option (or a template
        that does not fit its definition, with ``templates=``), `OutsideWindow` when the window
        policy refuses, `APIError` (or a subclass) when the server refuses, `TransportError`
        when no answer came; every error carries ``attempts`` and ``ambiguous_attempts``
        (0 attempts: nothing was sent).
        """
        recipient = normalize_recipient(to, self.default_region)
        envelope = Envelope(reply_to, callback_data)
        policy = self._policy(window_policy)
        return await self._deliver(recipient, message, envelope, policy, None, self._confirmer)

    async def _deliver(
        self,
        recipient: str,
        message: Message,
        envelope: Envelope,
        policy: WindowPolicy,
        watch: AttemptWatch | None,
        confirmer: Confirmer | None,
    ) -> SendResult:
        """The one way a message goes, from `send` and from campaigns: what to send in its
        place (the window policy, the template check), the request encoded once, the attempts.
        ``watch`` is told of each request as it leaves and ends (a campaign's journal) and
        names the send's tag; ``confirmer`` looks for the statuses of uncertain attempts.
        A `GupshupError` with ``attempts == 0`` sent nothing.
        """
        sending = message
        learnt = bool(self._template_status or self._opted_out or self._moved)
        if policy.checks or self._templates is not None or learnt:
            sending = await self._prepare(recipient, message, policy)
        tag = watch.tag if watch is not None else None
        if tag is None and confirmer is not None and envelope.callback_data is None:
            tag = Tag(self._tag_prefix, f"{next(self._sends):x}")
        request = _Request(recipient, sending, envelope, tag)
        result = await self._attempts(request, watch, confirmer)
        return result if sending is message else attrs.evolve(result, sent_instead=sending)

    # Windows and templates -----------------------------------------------------------------

    def learn(self, event: Event) -> None:
        """Take in what a webhook says that single sends must follow: a template paused,
        disabled or approved again (`TemplateUpdate`), a user who stopped or resumed marketing
        messages (`UserPreference`), a user who changed number or user id (`SystemNotice`,
        `UserIdChange`), which ids are one person (any event naming two). Pass it to a
        `Receiver` as a handler (``Receiver(secret, handlers=[client.learn])``); campaigns
        read the same from their journal. A template known paused is then refused before
        sending (`ValidationError` at ``template.name``), a marketing template to a user who
        stopped them raises `UserOptedOut` (whichever of their ids either names), and a send
        to an id its user left raises `RecipientMoved`.
        """
        self._people.learn([event])
        self._moved.update(moves([event]))
        if isinstance(event, TemplateUpdate) and event.status and event.name and event.language:
            self._template_status[(event.name, event.language)] = event.status.upper()
        elif isinstance(event, UserPreference) and event.category == "marketing_messages":
            # Under their number alone: `People` knows their other ids.
            if event.stopped:
                self._opted_out.add(event.wa_id)
            else:
                self._opted_out.discard(event.wa_id)

    def _category_of(self, message: TemplateMessage) -> str | None:
        """The template's category, from the definitions given or last fetched."""
        known = self._templates
        definitions = self._template_list.cached if known == "fetch" else known
        if not isinstance(definitions, TemplateDefinitions):
            return None
        found = definitions.get(message.name, message.language)
        return found.category if found is not None else None

    def _policy(self, chosen: WindowPolicy | None) -> WindowPolicy:
        policy = self.window_policy if chosen is None else chosen
        if policy.checks and self.windows is None:
            raise ValueError("a window policy that checks windows needs a window store (windows=)")
        return policy

    async def _prepare(self, recipient: str, message: Message, policy: WindowPolicy) -> Message:
        """What goes to ``recipient`` in place of ``message``: the window policy's choice,
        checked against its template definition when the client has them.
        """
        if recipient in self._moved:
            raise RecipientMoved(recipient, self._moved[recipient])
        if policy.checks and not isinstance(message, TemplateMessage):
            assert self.windows is not None
            found = self.windows.window(recipient)
            # A database's store answers as a coroutine, a file's or memory's at once.
            window = await found if inspect.isawaitable(found) else found
            message = policy.decide(recipient, message, window, time.time())
        if isinstance(message, TemplateMessage) and self._templates is not None:
            definitions = self._templates
            if definitions == "fetch":
                definitions = await self.fetch_templates()
                if definitions.get(message.name, message.language) is None:
                    definitions = await self.fetch_templates(max_age=60.0)  # approved lately?
            assert isinstance(definitions, TemplateDefinitions)
            definitions.check(message)
        if isinstance(message, TemplateMessage):
            self._check_learnt(recipient, message)
        return message

    # The conversation around a message: read receipts, replies, media ----------------------

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        """Mark the user's message ``message_id`` (Meta's id, as a webhook gives it) read: its
        ticks turn blue; ``typing`` shows the typing indicator too, for up to 25 seconds or
        until the next message (Gupshup's event endpoint). It takes the same rate limit and
        retries as a send; marking a message read twice is harmless, so every transient
        failure is retried. Raises `ValidationError` for an empty id, `APIError` or
        `TransportError` as a send does.
        """
        if not isinstance(message_id, str) or not message_id.strip():
            raise ValidationError.at(
                "message.message_id", f"must be a message id, got {message_id!r}"
            )
        event: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        }
        if typing:
            event["typing_indicator"] = {"type": "text"}
        body = json.dumps({"type": "message-event", "message": event}).encode()
        await self._call("POST", self._event_url, read=_event_accepted, body=body)

    async def reply(
        self,
        event: FromUser,
        message: Message,
        *,
        mark_read: bool = True,
        quote: bool = True,
        callback_data: str | None = None,
        window_policy: WindowPolicy | None = None,
    ) -> SendResult:
        """Answer the user's ``event`` (a button tap, a message): marks it read (with the typing
        indicator) and sends ``message`` to its sender, shown as a reply to it (``quote``).
        One line in a webhook handler: ``await client.reply(tap, TextMessage("Booked!"))``.
        A failure to mark it read is logged, never raised: the answer matters more.
        """
        if mark_read:
            try:
                await self.mark_read(event.message_id, typing=True)
            except GupshupError as failed:
                logger.warning("marking %s read failed: %s", event.message_id, _reason(failed))
        return await self.send(
            event.sender,
            message,
            reply_to=event.message_id if quote else None,
            callback_data=callback_data,
            window_policy=window_policy,
        )

    async def upload_media(
        self,
        file: str | os.PathLike[str] | bytes,
        mime_type: str,
        *,
        filename: str | None = None,
    ) -> str:
        """Upload a file (a path, or its bytes) to Gupshup's media endpoint and return the
        media id to send it with (``ImageMessage(id=...)``); Gupshup keeps it 30 days.

        The MIME type and the size are checked first, against what WhatsApp delivers (JPEG or
        PNG images up to 5 MB, MP4 or 3GPP video and AAC, AMR, MP3, M4A or OGG audio up to
        16 MB, WebP stickers up to 500 KB, documents up to 100 MB): a `ValidationError` at
        ``file_type`` or ``file``, and nothing is sent. The file is read whole (in a thread).
        Same rate limit and retries as a send; a retried upload at worst makes a second id.
        """
        if isinstance(file, bytes):
            data, name = file, filename or "upload"
            kind = check_upload(mime_type, len(data))
        else:
            path = Path(file)
            try:
                size = (await asyncio.to_thread(path.stat)).st_size
            except OSError as missing:
                said = f"cannot read {path}: {missing.strerror}"
                raise ValidationError.at("file", said) from None
            kind = check_upload(mime_type, size)
            data, name = await asyncio.to_thread(path.read_bytes), filename or path.name
        files = {"file": (name, data, kind)}
        result = await self._call(
            "POST", self._media_url, read=_media_accepted, form={"file_type": kind}, files=files
        )
        return result.message_id

    async def download_media(
        self,
        media: MediaReceived | str,
        to: str | os.PathLike[str] | None = None,
        *,
        max_bytes: int = 100 * 1024 * 1024,
    ) -> bytes | Path:
        """The file of a `MediaReceived` (by the URL Gupshup gives with it) or at a URL: its
        bytes, or streamed to the file ``to`` as it arrives (written beside it and renamed once
        whole) and that path. Gupshup's URLs expire: download soon after
        the webhook. Transient failures are retried as a send's; a 4xx is not (Gupshup
        rate-limits repeated calls for invalid media). The app token goes only to Gupshup's
        own host, never to another. Raises `ValidationError` when there is no URL, `APIError`
        or `TransportError` otherwise.
        """
        url = media.url if isinstance(media, MediaReceived) else media
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ValidationError.at(
                "url",
                "this media came without a URL to fetch it (Gupshup gives one with inbound media)",
            )
        self._check_usable()
        target = httpx.URL(url)
        token = await self._provider.token()
        ours = target.host == httpx.URL(self.base_url).host
        headers = token_headers(token) if ours else httpx.Headers()
        if to is None:
            return await self._fetch(target, headers, token, max_bytes, None)
        path = Path(to)
        part = path.with_name(path.name + ".part")
        # Written as it arrives, to a side file renamed once whole: never a partial file at
        # ``to``, and never the whole file in memory.
        handle = await asyncio.to_thread(part.open, "wb")
        try:

            async def write(chunk: bytes) -> None:
                await asyncio.to_thread(handle.write, chunk)

            async def restart() -> None:
                await asyncio.to_thread(handle.seek, 0)
                await asyncio.to_thread(handle.truncate)

            await self._fetch(target, headers, token, max_bytes, (write, restart))
        except BaseException:
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(part.unlink, True)
            raise
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(part.replace, path)
        return path

    async def _fetch(
        self,
        target: httpx.URL,
        headers: httpx.Headers,
        token: str,
        max_bytes: int,
        writing: tuple[Callable[[bytes], Awaitable[None]], Callable[[], Awaitable[None]]] | None,
    ) -> bytes:
        """GET ``target``, retried as a send is (a 4xx is not); its body, or written through
        ``writing`` (a chunk writer, and how to start over before a retry).
        """
        attempt = 0
        while True:
            attempt += 1
            if self._limiter is not None:
                await self._limiter.acquire(f"~call:{next(self._calls)}")
            if writing is not None and attempt > 1:
                await writing[1]()
            try:
                answer = await self._exchange.send(
                    "GET",
                    target,
                    headers=headers,
                    limit=max_bytes,
                    ambiguous=False,
                    secret=token,
                    sink=writing[0] if writing is not None else None,
                    whole_within=max(self._exchange.attempt_timeout or 0.0, _DOWNLOAD_WITHIN),
                )
                if not answer.ok:
                    raise answer.refusal()
                return answer.content
            except GupshupError as failed:
                if not self.retry.should_retry(failed, attempt):
                    failed.attempts = attempt
                    raise
                await asyncio.sleep(self._wait_after("~download", failed, attempt))

    def _check_learnt(self, recipient: str, message: TemplateMessage) -> None:
        refused = template_refusal(
            recipient,
            message,
            self._template_status.get((message.name, message.language)),
            lambda: self._category_of(message),
            opted_out=bool(self._people.ids_of(recipient) & self._opted_out),
        )
        if refused is not None:
            raise refused

    # The app's webhook -----------------------------------------------------------------------

    async def subscribe(
        self,
        url: str,
        *,
        secret: str,
        header: str = "X-Hook-Secret",
        tag: str = "gupshup-async",
        modes: Sequence[str] = DEFAULT_MODES,
    ) -> Subscription:
        """Point the app's webhook at ``url`` through Gupshup's subscription API, in the
        format the `Receiver` reads (version 3, Meta's envelope), with ``header: secret`` sent
        on every callback (the subscription's ``meta``: what the receiver checks). ``tag``
        names it (unique per app). Returns the subscription; the secret is never kept in it.
        """
        check_url(url)
        if not isinstance(secret, str) or not secret:
            raise ValidationError.at("meta", "a secret is required: without one anybody can post")
        form = {
            "url": url,
            "version": "3",
            "tag": tag,
            "modes": ",".join(modes),
            "meta": json.dumps({header: secret}),
        }
        kept = _Kept(read_subscription)
        await self._call("POST", "subscription", form=form, read=kept)
        assert kept.value is not None
        return kept.value

    async def subscriptions(self) -> list[Subscription]:
        """The app's webhook subscriptions."""
        kept = _Kept(read_subscriptions)
        await self._call("GET", "subscription", read=kept)
        assert kept.value is not None
        return kept.value

    async def unsubscribe(self, subscription_id: str) -> None:
        """Remove the subscription ``subscription_id``."""
        if not isinstance(subscription_id, str) or not subscription_id.strip():
            raise ValidationError.at("subscription_id", f"must be an id, got {subscription_id!r}")
        path = f"subscription/{quote(subscription_id, safe='')}"
        await self._call("DELETE", path, read=_event_accepted)

    async def _call(
        self,
        method: str,
        where: str | httpx.URL,
        *,
        read: Callable[[int, bytes], _Accepted],
        body: bytes = b"",
        form: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> SendResult:
        """A call that is no message (``where``: a URL, or a path under the app's) on the one
        send path (rate limit, retries, token refresh); such calls are safe to repeat. A
        ``body`` goes as JSON, a ``form`` (with ``files``) as a form.
        """
        url = where if isinstance(where, httpx.URL) else httpx.URL(f"{self._app_path}/{where}")
        request = _Request(
            f"~call:{next(self._calls)}",
            None,
            NO_ENVELOPE,
            None,
            body,
            url=url,
            read=read,
            content_type=_JSON if body else None,
            files=files,
            form=form,
            ambiguous=False,
            hooked=False,
            method=method,
        )
        return await self._attempts(request, None, None)

    async def fetch_templates(self, *, max_age: float | None = None) -> TemplateDefinitions:
        """The app's templates as Gupshup lists them (``GET /partner/app/{app_id}/templates``).

        Fetched at most once per ``max_age`` seconds (default ``templates_max_age``), one fetch
        at a time however many sends ask: Gupshup allows 10 calls a minute per app. When a fetch
        fails, the list fetched before is used (a warning is logged) and no fetch is tried again
        for a minute (or the ``Retry-After`` asked); with no list fetched before, the failure is
        raised, to every caller in that minute, as `APIError` or `TransportError`.
        """
        self._check_usable()
        return await self._template_list.get(max_age)

    # Attempts ------------------------------------------------------------------------------

    async def _attempts(
        self, request: _Request, watch: AttemptWatch | None, confirmer: Confirmer | None
    ) -> SendResult:
        """Every attempt of one request. The first runs here (the common case costs no retry
        machinery); after a failure the `RetryPolicy` decides, and tenacity runs the rest.
        """
        self._check_usable()
        tally = _Tally(request.recipient, await self._provider.token(), watch, request, confirmer)
        try:
            try:
                result = await self._attempt(tally)
            except GupshupError as error:
                if not self.retry.should_retry(error, tally.attempts):
                    raise
                self._before_retry(error, tally)
                await asyncio.sleep(tally.next_wait)
                result = await self._retrying.copy()(self._attempt, tally)
        except GupshupError as error:
            raise self._give_up(error, tally) from None
        if tally.uncertain and tally.confirmer is not None:
            result = await self._duplicates(result, tally.confirmer, tally.uncertain)
        if self._hooks is not None and request.hooked:
            self._hooks.success(result)
        return result

    async def _attempt(self, tally: _Tally) -> SendResult:
        """One attempt; when its answer never came, the statuses decide whether it went."""
        try:
            return await self._request(tally)
        except GupshupError as error:
            if not error.ambiguous or not tally.confirms:
                raise
            tally.uncertain.append(str(tally.request.callback_data(tally.number)))
            seen = await self._confirm(tally)
            if seen is None:
                raise
            if self._limiter is not None:
                self._limiter.succeeded()
            return seen.result(tally.recipient, attempts=tally.attempts, ambiguous=tally.ambiguous)

    async def _confirm(self, tally: _Tally) -> Seen | None:
        """Wait up to ``confirm_within`` for a status naming any uncertain attempt of this
        send. Only this send waits: a campaign lets another worker take its place meanwhile.
        """
        assert tally.confirmer is not None
        watch = tally.watch
        if watch is not None:
            watch.confirming(True)
        started = time.monotonic()
        try:
            seen = await tally.confirmer.wait(tally.uncertain, self.retry.confirm_within)
        finally:
            if watch is not None:
                watch.confirming(False)
        # The backoff that follows is for the server's sake: the wait already gave it time.
        tally.next_wait = max(0.0, tally.next_wait - (time.monotonic() - started))
        return seen

    @staticmethod
    async def _duplicates(
        result: SendResult, confirmer: Confirmer, uncertain: list[str]
    ) -> SendResult:
        """The other attempts the statuses show accepted as well, as the send ends."""
        others = [tag for tag in uncertain if tag != result.callback_data]
        found = await confirmer.check(others) if others else []
        if not found:
            return result
        logger.warning(
            "send to %s: %d attempt(s) whose answer never came reached WhatsApp as well: the "
            "recipient has the message %d times",
            _masked(result.to),
            len(found),
            len(found) + 1,
        )
        return attrs.evolve(result, duplicates=len(found))

    def _check_usable(self) -> None:
        if self._closed:
            raise RuntimeError("this GupshupClient is closed")
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                raise RuntimeError(
                    "this GupshupClient was first used in another event loop, and its "
                    "connections belong to that loop: create one GupshupClient per event loop"
                )
            self._loop = loop

    async def _request(self, tally: _Tally) -> SendResult:
        """One attempt's request (two, when a 401 made the token provider refresh)."""
        recipient = tally.recipient
        watch = tally.watch
        while True:
            body = tally.request.body_for(tally.number + 1)
            # A campaign's in-flight mark is stored before the request's slot comes, so that the
            # slot is the moment it leaves (a slow journal costs slots, never a burst).
            ready = watch.prepare if watch is not None and watch.stores else None
            if self._limiter is not None:
                await self._limiter.acquire(recipient, ready)
            elif ready is not None:
                await ready()
            if watch is not None:
                watch.leaving()
            tally.attempts += 1
            if self._hooks is not None and tally.request.hooked:
                self._hooks.attempt(recipient, tally.attempts)
            try:
                message_id, wa_id, user_id = await self._post(tally.request, body, tally.token)
            except GupshupError as error:
                if watch is not None:
                    watch.after(error)
                if not tally.refreshed and unauthorized(error):
                    tally.refreshed = True
                    fresh = await fresh_token(self._provider, error, tally.token)
                    if fresh is not None:
                        tally.token = fresh
                        continue
                if error.ambiguous:
                    tally.ambiguous += 1
                tally.next_wait = self._wait_after(recipient, error, tally.attempts)
                raise
            if watch is not None:
                watch.after(None)
            if self._limiter is not None:
                self._limiter.succeeded()
            return SendResult(
                message_id,
                wa_id,
                recipient,
                tally.attempts,
                tally.ambiguous,
                user_id,
                callback_data=tally.request.callback_data(tally.number),
            )

    async def _post(self, request: _Request, body: bytes, token: str) -> _Accepted:
        """POST the request and read the answer."""
        answer = await self._exchange.send(
            request.method,
            request.url or self._httpx_url,
            headers=self._headers_for(token, request.content_type),
            content=body or None,
            form=request.form,
            files=request.files,
            ambiguous=request.ambiguous,
            secret=token,
        )
        if answer.ok:
            return request.read(answer.status, answer.content)
        raise answer.refusal()

    def _headers_for(self, token: str, content_type: str | None = _JSON) -> httpx.Headers:
        """Our headers for ``token``, made once per token: httpx merges them with the client's
        own on every request, and parsing a URL and a header dict per request cost more than
        everything else this library does per send (docs/performance.md).
        """
        if content_type != _JSON:  # a read receipt or an upload: rare, not cached
            return token_headers(token, content_type)
        made = self._headers
        if made is None or made[0] != token:
            made = (token, token_headers(token, _JSON))
            self._headers = made
        return made[1]

    def _wait_after(self, recipient: str, error: GupshupError, attempt: int) -> float:
        """How long until the next attempt; a rate limit slows everyone who shares it."""
        wait = self.retry.wait(error, attempt) if _engine.waits() else 0.0
        if isinstance(error, RateLimitError) and self._limiter is not None:
            if error.recipient_only:
                self._limiter.recipient_limited(recipient, wait)
            elif not self.retry.retry_after_too_long(error):
                # A wait beyond max_retry_after fails this send at once: no pause for others.
                self._limiter.rate_limited(wait)
        return wait

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        tally: _Tally = state.args[0]
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, GupshupError):  # only ours are retried
            self._before_retry(error, tally)

    def _before_retry(self, error: GupshupError, tally: _Tally) -> None:
        logger.info(
            "send to %s: attempt %d failed (%s); retrying in %.2fs",
            _masked(tally.recipient),
            tally.attempts,
            _reason(error),
            tally.next_wait,
        )
        if self._hooks is not None and tally.request.hooked:
            self._hooks.retry(tally.recipient, tally.attempts, error, tally.next_wait)

    def _give_up(self, error: GupshupError, tally: _Tally) -> GupshupError:
        error.attempts = tally.attempts
        error.ambiguous_attempts = tally.ambiguous
        # Every uncertain attempt was waited for (`_confirm`), and no status named any.
        error.unconfirmed = bool(tally.uncertain)
        if isinstance(error, APIError) and self.retry.retry_after_too_long(error):
            error.args = (
                f"{error.args[0]} (the server asked to wait {error.retry_after:g}s, "
                f"more than max_retry_after={self.retry.max_retry_after:g}s)",
            )
        logger.debug(
            "send to %s failed after %d attempt(s): %s",
            _masked(tally.recipient),
            tally.attempts,
            _reason(error),
        )
        if self._hooks is not None and tally.request.hooked:
            self._hooks.failure(tally.recipient, error)
        return error


@attrs.frozen
class _Delivery:
    """A campaign's way to send: the client's one path, with the run's window policy."""

    client: GupshupClient
    policy: WindowPolicy
    confirmer: Confirmer | None

    @property
    def decides_windows(self) -> bool:
        return self.policy.checks

    def category_of(self, message: TemplateMessage) -> str | None:
        return self.client._category_of(message)

    async def __call__(
        self, recipient: str, message: Message, envelope: Envelope, watch: AttemptWatch | None
    ) -> SendResult:
        return await self.client._deliver(
            recipient, message, envelope, self.policy, watch, self.confirmer
        )


class _Kept(Generic[_T]):
    """What one call's answer held, kept for the call that asked: the send path returns ids."""

    def __init__(self, read: Callable[[int, bytes], _T]) -> None:
        self._read = read
        self.value: _T | None = None

    def __call__(self, status: int, content: bytes) -> _Accepted:
        self.value = self._read(status, content)
        return ("", None, None)


def _event_accepted(status: int, content: bytes) -> _Accepted:
    """A read receipt taken: a 2xx, unless its body says ``"status": "error"``."""
    _refused_in_body(status, content)
    return ("", None, None)


def _media_accepted(status: int, content: bytes) -> _Accepted:
    """An upload taken: ``{"mediaId": ..., "status": "success"}``."""
    _refused_in_body(status, content)
    try:
        media_id = json.loads(content)["mediaId"]
        if not isinstance(media_id, str) or not media_id:
            raise TypeError(media_id)
    except (ValueError, LookupError, TypeError):
        raise APIError(
            "the upload was accepted but the answer carries no mediaId",
            status_code=status,
            body=content[:200].decode("utf-8", "replace"),
        ) from None
    return (media_id, None, None)


def _refused_in_body(status: int, content: bytes) -> None:
    # Gupshup answers some refusals with a 2xx and {"status": "error", "message": ...}.
    try:
        data = json.loads(content) if content else {}
    except ValueError:
        return
    if isinstance(data, dict) and data.get("status") == "error":
        said = data.get("message")
        raise APIError(
            f"refused: {said}" if isinstance(said, str) else "refused",
            status_code=status,
            body=content[:200].decode("utf-8", "replace"),
        )


def _planned_wait(state: tenacity.RetryCallState) -> float:
    """The wait the failed attempt planned (it also told the limiter; see `_wait_after`)."""
    tally: _Tally = state.args[0]
    return tally.next_wait


def _masked(recipient: str) -> str:
    """Enough of a number to tell sends apart in a log, not enough to message someone."""
    return f"…{recipient[-4:]}"


def _reason(error: GupshupError) -> str:
    if isinstance(error, APIError):
        code = f", code {error.code}" if error.code is not None else ""
        return f"{type(error).__name__} {error.status_code}{code}"
    return f"{type(error).__name__}: {error}"
